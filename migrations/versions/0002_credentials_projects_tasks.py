"""Credentials, projects, and the task fields of the tasks service.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28

- `credentials`: one row per access key, owned by a company; the secret is stored hashed
  (events_service/auth.py says how and why). Revoked keys stay, with the time of revocation.
- `companies.name` becomes unique when not empty: the command line names companies.
- `projects`: ClearML projects, unique by name within a company, as the real server keeps them.
- `tasks` gains the fields tasks.create / tasks.edit / status changes write. A task registered by
  its first event is the same row, with these columns empty. The open-ended sections (execution,
  script, output, hyperparams, configuration, ...) are kept as sent in one JSONB column: nothing
  here queries inside them.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TEXT_ARRAY = postgresql.ARRAY(sa.Text())
TASK_COLUMNS = [
    ("project_key", sa.BigInteger()), ("type", sa.Text()), ("user_id", sa.Text()), ("comment", sa.Text()),
    ("parent", sa.Text()), ("status_message", sa.Text()), ("status_reason", sa.Text()),
    ("status_changed", sa.DateTime(timezone=True)), ("started", sa.DateTime(timezone=True)),
    ("completed", sa.DateTime(timezone=True)), ("published", sa.DateTime(timezone=True)),
    ("last_change", sa.DateTime(timezone=True)),
]


def upgrade() -> None:
    op.create_index("ix_companies_name", "companies", ["name"], unique=True,
                    postgresql_where=sa.text("name <> ''"))
    op.create_table(
        "credentials",
        sa.Column("key", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("company_key", sa.Integer(), nullable=False),
        sa.Column("access_key", sa.Text(), nullable=False),
        sa.Column("secret_hash", sa.Text(), nullable=False),
        sa.Column("user_id", sa.Text(), nullable=False),
        sa.Column("user_name", sa.Text(), server_default="", nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("revoked", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["company_key"], ["companies.key"],
                                name=op.f("fk_credentials_company_key_companies")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_credentials")),
        sa.UniqueConstraint("access_key", name=op.f("uq_credentials_access_key")),
    )
    op.create_table(
        "projects",
        sa.Column("key", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("company_key", sa.Integer(), nullable=False),
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("user_id", sa.Text()),
        sa.Column("tags", TEXT_ARRAY, server_default="{}", nullable=False),
        sa.Column("system_tags", TEXT_ARRAY, server_default="{}", nullable=False),
        sa.Column("default_output_destination", sa.Text()),
        sa.Column("created", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("last_update", sa.DateTime(timezone=True)),
        sa.ForeignKeyConstraint(["company_key"], ["companies.key"],
                                name=op.f("fk_projects_company_key_companies")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_projects")),
        sa.UniqueConstraint("id", name=op.f("uq_projects_id")),
        sa.UniqueConstraint("company_key", "name", name=op.f("uq_projects_company_key_name")),
    )
    for name, type_ in TASK_COLUMNS:
        op.add_column("tasks", sa.Column(name, type_))
    op.add_column("tasks", sa.Column("tags", TEXT_ARRAY, server_default="{}", nullable=False))
    op.add_column("tasks", sa.Column("system_tags", TEXT_ARRAY, server_default="{}", nullable=False))
    op.add_column("tasks", sa.Column("details", postgresql.JSONB(), server_default="{}", nullable=False))
    op.create_foreign_key(op.f("fk_tasks_project_key_projects"), "tasks", "projects", ["project_key"],
                          ["key"], ondelete="SET NULL")
    op.create_index(op.f("ix_tasks_project_key"), "tasks", ["project_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tasks_project_key"), table_name="tasks")
    op.drop_constraint(op.f("fk_tasks_project_key_projects"), "tasks", type_="foreignkey")
    for name in ["details", "system_tags", "tags"] + [n for n, _ in reversed(TASK_COLUMNS)]:
        op.drop_column("tasks", name)
    op.drop_table("projects")
    op.drop_table("credentials")
    op.drop_index("ix_companies_name", table_name="companies")
