"""Views for dashboards (Grafana's PostgreSQL data source) and SQL-minded DBAs, in a schema of
their own, and a role that can read these views and nothing else.

Revision ID: 0007
Revises: 0004
Create Date: 2026-12-06

- `dashboards.scalar_points`: one row per stored scalar: company, project, task, metric,
  variant, iteration, time (timestamptz) and value; plus `ts_ms`, the event time in epoch ms as
  stored, which is what to filter by time on (a condition on `ts_ms` reaches the hypertable's
  chunks and index; one on `time`, an expression over it, has to read every point of the task).
- `dashboards.scalar_series`: one row per scalar series from the running statistics ingestion
  keeps (points, last/min/max value, last iteration and time): no event is read.
- `dashboards.task_summary`: one row per task: status, iterations, series and points per kind.

The views name companies, projects and tasks by id and name, never by internal key, so queries
survive a dump and restore. Every company is visible: a dashboard for one company filters on
`company` (or the DBA makes a per-company view from these).

Role `events_dashboards` (NOLOGIN; grant it to the login Grafana uses): USAGE on schema
`dashboards` and SELECT on its views (default privileges extend it to views later migrations add
there), nothing on the tables. Views run with their owner's
rights, so reading through them needs nothing more; PostgreSQL grants no table to PUBLIC, so the
role reads no table, no chunk and no credential. Roles belong to the whole cluster: the role is
created when missing (several databases of one cluster share it), and a downgrade drops the schema
and its grants but leaves the role (another database may use it).

`scalar_points` reads `scalar_events` directly here; migration 0009 re-points it at the union of
the rows and the compact blocks of 0008 (docs/grafana.md shows the SQL).
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

ROLE = "events_dashboards"

SCALAR_POINTS = """
CREATE VIEW dashboards.scalar_points AS
SELECT c.id AS company, c.name AS company_name, p.id AS project_id, p.name AS project,
       t.id AS task_id, t.name AS task, s.metric, s.variant, e.iter AS iteration,
       to_timestamp(e.ts / 1000.0) AS time, e.ts AS ts_ms, e.value
FROM scalar_events e
JOIN series s ON s.key = e.series_key
JOIN tasks t ON t.key = e.task_key
JOIN companies c ON c.key = e.company_key
LEFT JOIN projects p ON p.key = t.project_key
"""

SCALAR_SERIES = """
CREATE VIEW dashboards.scalar_series AS
SELECT c.id AS company, p.name AS project, t.id AS task_id, t.name AS task, s.metric, s.variant,
       s.event_count AS points, s.last_iter AS last_iteration, to_timestamp(s.last_ts / 1000.0) AS last_time,
       s.last_value, s.min_value, s.max_value
FROM series s
JOIN tasks t ON t.key = s.task_key
JOIN companies c ON c.key = s.company_key
LEFT JOIN projects p ON p.key = t.project_key
WHERE s.event_type = 'training_stats_scalar'
"""

TASK_SUMMARY = """
CREATE VIEW dashboards.task_summary AS
SELECT c.id AS company, p.id AS project_id, p.name AS project, t.id AS task_id, t.name AS task,
       t.status, t.type, t.created, t.last_update, t.last_iteration,
       coalesce(k.scalar_series, 0) AS scalar_series, coalesce(k.scalar_points, 0) AS scalar_points,
       coalesce(k.log_lines, 0) AS log_lines, coalesce(k.plots, 0) AS plots,
       coalesce(k.debug_images, 0) AS debug_images,
       to_timestamp(k.last_event_ms / 1000.0) AS last_event_time
FROM tasks t
JOIN companies c ON c.key = t.company_key
LEFT JOIN projects p ON p.key = t.project_key
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE s.event_type = 'training_stats_scalar') AS scalar_series,
           sum(s.event_count) FILTER (WHERE s.event_type = 'training_stats_scalar') AS scalar_points,
           sum(s.event_count) FILTER (WHERE s.event_type = 'log') AS log_lines,
           sum(s.event_count) FILTER (WHERE s.event_type = 'plot') AS plots,
           sum(s.event_count) FILTER (WHERE s.event_type = 'training_debug_image') AS debug_images,
           max(s.max_ts) AS last_event_ms
    FROM series s WHERE s.task_key = t.key) k ON true
"""


def upgrade() -> None:
    op.execute("CREATE SCHEMA dashboards")
    for statement in (SCALAR_POINTS, SCALAR_SERIES, TASK_SUMMARY):
        op.execute(statement)
    op.execute(f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') "
               f"THEN CREATE ROLE {ROLE} NOLOGIN; END IF; END $$")
    op.execute(f"GRANT USAGE ON SCHEMA dashboards TO {ROLE}")
    op.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA dashboards TO {ROLE}")
    # views a later migration adds to the schema are readable too
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA dashboards GRANT SELECT ON TABLES TO {ROLE}")


def downgrade() -> None:
    op.execute(f"REVOKE ALL ON SCHEMA dashboards FROM {ROLE}")
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA dashboards REVOKE SELECT ON TABLES FROM {ROLE}")
    op.execute("DROP SCHEMA dashboards CASCADE")  # the views and their grants
