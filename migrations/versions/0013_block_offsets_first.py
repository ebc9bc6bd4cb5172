"""dashboards.scalar_points: a block's iteration as its first one plus the point's offset.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07

A block whose points have contiguous iterations stores none (migration 0008): a point's iteration is
first_iter + ordinal - 1. Written so, PostgreSQL adds first_iter + ordinal first, which leaves int64
for the block of int64's last iteration (9223372036854775807, a first_iter there): the view raised
"bigint out of range" for every query that reached that block. The offset goes first now,
first_iter + (ordinal - 1), as in db/queries/compact.py, whose compaction of such a series failed the
same way (fixed in the same change: the periodic pass then failed on every run).
"""
from __future__ import annotations

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

VIEW = """
CREATE OR REPLACE VIEW dashboards.scalar_points AS
SELECT c.id AS company, c.name AS company_name, p.id AS project_id, p.name AS project,
       t.id AS task_id, t.name AS task, s.metric, s.variant, e.iter AS iteration,
       to_timestamp(e.ts / 1000.0) AS time, e.ts AS ts_ms, e.value
FROM (SELECT company_key, task_key, series_key, iter, ts, value FROM scalar_events
      UNION ALL
      SELECT cb.company_key, cb.task_key, cb.series_key, coalesce(cu.iter, {iteration}),
             cb.times_base + (cu.ordinal - 1) * cb.times_step + coalesce(cu.ts, 0), cu.value
      FROM scalar_blocks cb CROSS JOIN LATERAL unnest(cb.times, cb.vals, cb.iters)
           WITH ORDINALITY AS cu(ts, value, iter, ordinal)) e
JOIN series s ON s.key = e.series_key
JOIN tasks t ON t.key = e.task_key
JOIN companies c ON c.key = e.company_key
LEFT JOIN projects p ON p.key = t.project_key
"""


def upgrade() -> None:
    op.execute(VIEW.format(iteration="cb.first_iter + (cu.ordinal - 1)"))


def downgrade() -> None:
    op.execute(VIEW.format(iteration="cb.first_iter + cu.ordinal - 1"))
