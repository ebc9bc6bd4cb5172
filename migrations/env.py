"""Alembic environment: the URL comes from the app's config; one migrator at a time (advisory lock)."""
from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import create_engine, text

from events_service import config as app_config
from events_service.db.models import metadata

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

MIGRATION_LOCK = 0x6576656E7473  # "events": serialises concurrent `alembic upgrade` runs


def database_url() -> str:
    return (context.get_x_argument(as_dictionary=True).get("url")
            or config.attributes.get("url")
            or app_config.load()["DATABASE_URL"])


def include_object(obj, name, type_, reflected, compare_to):  # noqa: ANN001
    # TimescaleDB's own catalog tables live in other schemas; nothing else to skip.
    return True


def run_migrations_offline() -> None:
    context.configure(url=database_url(), target_metadata=metadata, literal_binds=True, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url())
    with engine.connect() as connection:
        connection.execute(text("SET lock_timeout = '30s'"))
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK})
        connection.commit()
        try:
            context.configure(connection=connection, target_metadata=metadata, compare_type=True,
                              include_object=include_object)
            with context.begin_transaction():
                context.run_migrations()
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK})
            connection.commit()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
