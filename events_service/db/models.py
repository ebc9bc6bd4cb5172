"""Table declarations; the migrations create exactly these (alembic check keeps them in step).

Layout (reasons and measurements in migrations/versions/0001_initial.py and the README):
  companies, tasks   tenants and the tasks events belong to; every table carries company_key.
  credentials        access keys with hashed secrets; each pair belongs to one company (0003).
  projects           ClearML projects, the tasks' folders, unique by name within a company (0003).
  models             ClearML models (weights files) of a company, listed on their tasks (0005).
  series             one row per (task, event type, metric, variant) with its running statistics;
                     event rows point at it, so the hot tables stay narrow.
  *_events           one TimescaleDB hypertable per event type, partitioned by the event's own
                     time (epoch ms, 7-day chunks). No foreign keys (a per-row trigger would halve
                     COPY speed); the ingest code checks tasks and series itself.
  scalar_buckets     per-series pre-aggregates of scalar values by iteration (0003; design in
                     events_service/db/queries/scalars.py), removed with their series (CASCADE); the
                     primary key INCLUDEs the payload for index-only reads (0004).
  scalar_blocks      the compact form of finished scalar series: blocks of 1,000 iterations as
                     arrays (0008); read with the rows through db/queries/compact.py; times and ids
                     as a line plus residuals, and the blocks' own width-10/100 buckets (0010).
"""
from __future__ import annotations

from sqlalchemy import (
    BigInteger, Boolean, Column, DateTime, Double, ForeignKey, Index, Integer, MetaData, PrimaryKeyConstraint,
    Sequence, SmallInteger, Table, Text, UniqueConstraint, func, text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
metadata = MetaData(naming_convention=NAMING_CONVENTION)

EVENT_ID_SEQ = Sequence("event_id_seq", metadata=metadata, cache=1000)
CHUNK_INTERVAL_MS = 7 * 24 * 3600 * 1000

companies = Table(
    "companies", metadata,
    Column("key", Integer, primary_key=True, autoincrement=True),
    Column("id", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False, server_default=""),
)
# A company is named on the command line (`events-service credentials create --company NAME`).
Index("ix_companies_name", companies.c.name, unique=True, postgresql_where=text("name <> ''"))

credentials = Table(
    "credentials", metadata,
    Column("key", Integer, primary_key=True, autoincrement=True),
    Column("company_key", Integer, ForeignKey("companies.key"), nullable=False),
    Column("access_key", Text, nullable=False, unique=True),
    Column("secret_hash", Text, nullable=False),        # events_service.auth.hash_secret
    Column("user_id", Text, nullable=False),
    Column("user_name", Text, nullable=False, server_default=""),
    Column("created", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("revoked", DateTime(timezone=True)),
)

projects = Table(
    "projects", metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=True),
    Column("company_key", Integer, ForeignKey("companies.key"), nullable=False),
    Column("id", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("user_id", Text),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("system_tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("default_output_destination", Text),
    Column("created", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_update", DateTime(timezone=True)),
    UniqueConstraint("company_key", "name"),
)

tasks = Table(
    "tasks", metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=True),
    Column("company_key", Integer, ForeignKey("companies.key"), nullable=False),
    Column("id", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False, server_default=""),
    Column("status", Text, nullable=False, server_default="created"),
    Column("last_iteration", BigInteger, nullable=False, server_default="0"),
    Column("last_update", DateTime(timezone=True)),
    Column("created", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # Task fields of the tasks service (0003). Tasks registered by a first event have only the above.
    Column("project_key", BigInteger, ForeignKey("projects.key", ondelete="SET NULL")),
    Column("type", Text),
    Column("user_id", Text),
    Column("comment", Text),
    Column("parent", Text),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("system_tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("status_message", Text),
    Column("status_reason", Text),
    Column("status_changed", DateTime(timezone=True)),
    Column("started", DateTime(timezone=True)),
    Column("completed", DateTime(timezone=True)),
    Column("published", DateTime(timezone=True)),
    Column("last_change", DateTime(timezone=True)),
    # The open-ended sections (execution, script, output, hyperparams, configuration, ...) as sent.
    Column("details", JSONB, nullable=False, server_default="{}"),
    Index(None, "company_key", "key"),
    Index(None, "project_key"),
)

series = Table(
    "series", metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=True),
    Column("company_key", Integer, ForeignKey("companies.key"), nullable=False),
    Column("task_key", BigInteger, ForeignKey("tasks.key", ondelete="CASCADE"), nullable=False),
    Column("event_type", Text, nullable=False),
    Column("metric", Text, nullable=False),
    Column("variant", Text, nullable=False),
    # Highest iteration and event time stored: a new event above both cannot replace an old one.
    Column("max_iter", BigInteger),
    Column("max_ts", BigInteger),
    # Lowest event time stored (migration 0006): with max_ts, the time range every read of the
    # series is bounded by (db/queries/timerange.py), never narrower than its stored events.
    Column("min_ts", BigInteger),
    Column("has_null_iter", Boolean, nullable=False, server_default=text("false")),
    # ClearML's last_metrics for scalars: value at the greatest (iter, timestamp), min and max seen.
    Column("last_iter", BigInteger),
    Column("last_ts", BigInteger),
    Column("last_value", Double),
    Column("min_value", Double),
    Column("max_value", Double),
    Column("event_count", BigInteger, nullable=False, server_default="0"),
    Column("last_received", BigInteger),
    # last_received when the series was last compacted into scalar_blocks (0008)
    Column("compacted_received", BigInteger),
    # The last bucket of iterations (compact.BLOCK) aged into scalar_blocks while the task ran (0011)
    Column("aged_through", BigInteger),
    UniqueConstraint("task_key", "event_type", "metric", "variant"),
)


def _event_table(name: str, *payload: Column) -> Table:
    return Table(
        name, metadata,
        Column("company_key", Integer, nullable=False),
        Column("task_key", BigInteger, nullable=False),
        Column("series_key", BigInteger, nullable=False),
        Column("id", BigInteger, EVENT_ID_SEQ, nullable=False, server_default=EVENT_ID_SEQ.next_value()),
        Column("ts", BigInteger, nullable=False),          # event time, epoch ms (ClearML `timestamp`)
        Column("iter", BigInteger),
        Column("worker", Text),
        Column("received", BigInteger, nullable=False),    # ingestion time, epoch ms (`@timestamp`)
        *payload,
        Column("extra", JSONB),                            # fields the client added beyond the schema
        Index(None, "task_key", "ts", "id"),
    )


scalar_events = _event_table("scalar_events", Column("value", Double))
Index(None, scalar_events.c.series_key, scalar_events.c.iter)
vector_events = _event_table("vector_events", Column("value", ARRAY(Double)))
Index(None, vector_events.c.series_key, vector_events.c.iter)
image_events = _event_table("image_events", Column("key", Text), Column("url", Text))
Index(None, image_events.c.series_key, image_events.c.iter)
plot_events = _event_table("plot_events", Column("plot_str", Text))
Index(None, plot_events.c.series_key, plot_events.c.iter)
log_events = _event_table("log_events", Column("level", Text), Column("msg", Text))

# Pre-aggregates of scalar values: one row per (series, width, bucket index = floor(iter / width)),
# over the points a histogram may show (a value, an iteration, not the single-value iteration).
scalar_buckets = Table(
    "scalar_buckets", metadata,
    Column("company_key", Integer, nullable=False),
    Column("series_key", BigInteger, ForeignKey("series.key", ondelete="CASCADE"), nullable=False),
    Column("width", SmallInteger, nullable=False),
    Column("bucket", BigInteger, nullable=False),
    Column("value_count", Integer, nullable=False),
    Column("value_sum", Double, nullable=False),
    Column("min_value", Double, nullable=False),
    Column("max_value", Double, nullable=False),
    Column("min_iter", BigInteger, nullable=False),
    Column("max_iter", BigInteger, nullable=False),
    # INCLUDE (0004): histograms read buckets with index-only scans (see the migration).
    PrimaryKeyConstraint("series_key", "width", "bucket", postgresql_include=[
        "value_count", "value_sum", "min_value", "max_value", "min_iter", "max_iter"]),
)

# The compact form of scalar events that can no longer change (0008; design in the migration,
# reads and writes in events_service/db/queries/compact.py): per series, blocks of 1,000 iterations.
scalar_blocks = Table(
    "scalar_blocks", metadata,
    Column("series_key", BigInteger, ForeignKey("series.key", ondelete="CASCADE"), nullable=False),
    Column("bucket", BigInteger, nullable=False),
    Column("company_key", Integer, nullable=False),
    Column("task_key", BigInteger, nullable=False, index=True),
    Column("first_iter", BigInteger, nullable=False),
    Column("last_iter", BigInteger, nullable=False),
    Column("min_ts", BigInteger, nullable=False),
    Column("max_ts", BigInteger, nullable=False),
    Column("n", Integer, nullable=False),
    Column("n_values", Integer, nullable=False),
    Column("one_worker", Text),
    Column("one_received", BigInteger),
    # ids and times as base + (ordinal - 1) * step + residual, the residuals NULL when all 0 (0010)
    Column("ids_base", BigInteger, nullable=False),
    Column("ids_step", BigInteger, nullable=False),
    Column("ids", ARRAY(BigInteger)),
    Column("times_base", BigInteger, nullable=False),
    Column("times_step", BigInteger, nullable=False),
    Column("times", ARRAY(BigInteger)),
    Column("vals", ARRAY(Double), nullable=False),
    Column("iters", ARRAY(BigInteger)),
    Column("workers", ARRAY(Text)),
    Column("receiveds", ARRAY(BigInteger)),
    Column("extras", ARRAY(JSONB)),
    # the block's own pre-aggregates of widths 10 and 100, one element per bucket (0010; compact.buckets)
    *(Column(f"{name}_{width}", ARRAY(kind)) for width in (10, 100)
      for name, kind in (("sums", Double), ("mins", Double), ("maxs", Double), ("counts", SmallInteger),
                         ("firsts", SmallInteger), ("lasts", SmallInteger))),
    PrimaryKeyConstraint("series_key", "bucket"),
)

# The compact form of log lines that can no longer change (0012; design in the migration, reads and
# writes in events_service/db/queries/log_blocks.py): per task, blocks of 1,000 lines in (ts, id) order.
log_blocks = Table(
    "log_blocks", metadata,
    Column("task_key", BigInteger, nullable=False),
    Column("min_ts", BigInteger, nullable=False),
    Column("first_id", BigInteger, nullable=False),
    Column("max_ts", BigInteger, nullable=False),
    Column("last_id", BigInteger, nullable=False),
    Column("company_key", Integer, nullable=False),
    Column("n", Integer, nullable=False),
    Column("one_series", BigInteger),
    Column("one_iter", BigInteger),
    Column("one_worker", Text),
    Column("one_level", Text),
    Column("one_received", BigInteger),
    Column("ids", ARRAY(BigInteger), nullable=False),
    Column("times", ARRAY(BigInteger), nullable=False),
    Column("msgs", ARRAY(Text), nullable=False),
    Column("series_keys", ARRAY(BigInteger)),
    Column("iters", ARRAY(BigInteger)),
    Column("workers", ARRAY(Text)),
    Column("levels", ARRAY(Text)),
    Column("receiveds", ARRAY(BigInteger)),
    Column("extras", ARRAY(JSONB)),
    PrimaryKeyConstraint("task_key", "min_ts", "first_id"),
)

EVENT_TABLES = {
    "training_stats_scalar": scalar_events,
    "training_stats_vector": vector_events,
    "training_debug_image": image_events,
    "plot": plot_events,
    "log": log_events,
}

# ClearML's models (0005): queried fields as columns, the rest of the document in `details`.
models = Table(
    "models", metadata,
    Column("key", BigInteger, primary_key=True, autoincrement=True),
    Column("company_key", Integer, ForeignKey("companies.key"), nullable=False),
    Column("id", Text, nullable=False, unique=True),
    Column("name", Text, nullable=False),
    Column("user_id", Text),
    Column("project_key", BigInteger, ForeignKey("projects.key", ondelete="SET NULL")),
    Column("task", Text),
    Column("ready", Boolean, nullable=False, server_default=text("false")),
    Column("tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("system_tags", ARRAY(Text), nullable=False, server_default="{}"),
    Column("details", JSONB, nullable=False, server_default="{}"),
    Column("created", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("last_update", DateTime(timezone=True)),
    Index("ix_models_company_key_task", "company_key", "task"),
)
