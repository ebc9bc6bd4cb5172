"""series.aged_through: the old blocks of a running task's scalar series move into scalar_blocks.

Revision ID: 0011
Revises: 0009
Create Date: 2026-12-07

Why (issue 16, "size" while a task is written)
0008 compacts a task's scalars when it ends. A long run keeps every point as a scalar_events row
until then: ~193 bytes per point with the row's two index entries, plus ~31 of pre-aggregates
(scalar_buckets): 224 bytes per point (goal: 120). No row layout reaches 120 with its indexes, so
the old iterations of a running series move into the compact form while the newest stay rows.

What ages: whole blocks (compact.BLOCK = 1,000 iterations, bucket = floor(iter / 1000), the blocks
of 0008) whose every iteration lies at least AGE iterations behind the series' newest (series.
max_iter): bucket b ages when b * 1000 + 999 <= max_iter - AGE. AGE is the setting
COMPACT_AGE_ITERATIONS (default 1,000; `events-service compact --age N`): the newest 1,000 to 1,999
iterations stay rows, where ingestion appends and where a resumed task or a late worker re-sends.
Ended tasks keep 0008's behaviour (everything compacts). The width-10 pre-aggregates of a running
task stay as they are.

Finding the series to age from `series` alone: `aged_through` is the last bucket aged (NULL:
none). A running task's series is pending when floor((max_iter - AGE + 1) / 1000) - 1 >
coalesce(aged_through, -1), i.e. once per 1,000 new iterations (compact.aging). Then, under the
series' advisory lock taken without waiting (a series being written is skipped; the pass comes
back), compact.age_series moves the rows of iterations up to the last old bucket, from the lowest
row left (min(iter) through the (series_key, iter) index), at most compact.STEP = 10 buckets per
transaction so that an ingestion batch arriving meanwhile waits for one short move only.
A re-sent old iteration turns its block back into rows (compact.expand, as for an ended task); those
rows age again with the series' next old bucket (or when the task ends).

Measured (bench/storage.py, 12-07, shared 2-core machine, with the 0008 block layout):
    --points 5000 --logs 20000 --plots 100: scalar bytes/point live 224.3 -> MEASURED_SMALL
    default size (--points 20000):            scalar bytes/point live MEASURED_ROWS -> MEASURED_DEFAULT
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("series", sa.Column("aged_through", sa.BigInteger()))


def downgrade() -> None:
    # Aged blocks are blocks like any other (0008's downgrade turns them back into rows).
    op.drop_column("series", "aged_through")
