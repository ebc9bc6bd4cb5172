"""dashboards.scalar_points reads both forms of scalar events: the rows and the compact blocks.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

0007 made the view over `scalar_events`; 0008 moves finished tasks' scalars into `scalar_blocks`
(one row per series and 1,000 iterations, arrays per column). Without this the view would lose
every point a compaction moved. The view now reads the union of the rows and the unnested blocks,
as db/queries/compact.py does for the API (a block's iterations are `first_iter + position` when
it stores no `iters` array). A migration keeps its own copy of the SQL: it must stay what it was
when written, whatever the application's query builder becomes. Columns, names and grants are as
before (CREATE OR REPLACE VIEW keeps the dashboards role's SELECT).
"""
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

VIEW = """
CREATE OR REPLACE VIEW dashboards.scalar_points AS
SELECT c.id AS company, c.name AS company_name, p.id AS project_id, p.name AS project,
       t.id AS task_id, t.name AS task, s.metric, s.variant, e.iter AS iteration,
       to_timestamp(e.ts / 1000.0) AS time, e.ts AS ts_ms, e.value
FROM ({events}) e
JOIN series s ON s.key = e.series_key
JOIN tasks t ON t.key = e.task_key
JOIN companies c ON c.key = e.company_key
LEFT JOIN projects p ON p.key = t.project_key
"""

ROWS = "SELECT company_key, task_key, series_key, iter, ts, value FROM scalar_events"
BOTH_FORMS = ROWS + """
UNION ALL
SELECT cb.company_key, cb.task_key, cb.series_key, coalesce(cu.iter, cb.first_iter + cu.ordinal - 1),
       cu.ts, cu.value
FROM scalar_blocks cb CROSS JOIN LATERAL unnest(cb.times, cb.vals, cb.iters)
     WITH ORDINALITY AS cu(ts, value, iter, ordinal)"""


def upgrade() -> None:
    op.execute(VIEW.format(events=BOTH_FORMS))


def downgrade() -> None:
    op.execute(VIEW.format(events=ROWS))
