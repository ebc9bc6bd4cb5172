"""series.aged_through: the old blocks of a running task's scalar series move into scalar_blocks.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

Why (issue 16, "size" while a task is written)
0008 compacts a task's scalars when it ends. A long run keeps every point as a scalar_events row
until then: ~193 bytes per point with the row's two index entries, plus ~31 of pre-aggregates
(scalar_buckets): 224 bytes per point (goal: 120). No row layout reaches 120 with its indexes, so
the old iterations of a running series move into the compact form while the newest stay rows.

What ages: whole blocks (compact.BLOCK = 1,000 iterations, bucket = floor(iter / 1000), the blocks
of 0008) whose every iteration lies at least AGE iterations behind the series' newest (series.
max_iter): bucket b ages when b * 1000 + 999 <= max_iter - AGE. AGE is the setting
COMPACT_AGE_ITERATIONS (default 100; `events-service compact --age N`): the newest 100 to 1,099
iterations of each series stay rows, where ingestion appends and where a late batch lands. An older
re-send (a task resumed from a checkpoint) is still right, only dearer: its block turns back into
rows (compact.expand, as for an ended task) and ages again with the series' next block. Ended tasks
keep 0008's behaviour (everything compacts). The width-10 pre-aggregates of a running task stay.

Finding the series to age from `series` alone: `aged_through` is the last bucket aged (NULL: none).
A running task's series is due when floor((max_iter - AGE + 1) / 1000) - 1 > coalesce(aged_through,
-1), i.e. once per 1,000 new iterations (compact.aging). Then, under the series' advisory lock
taken without waiting (a series being written is skipped; a later pass comes back), compact.
age_series moves the rows of the iterations up to the last old bucket, from the lowest row left
(min(iter) through the (series_key, iter) index), at most compact.STEP = 10 buckets per transaction,
so that an ingestion batch arriving meanwhile waits for one short move only.

Why AGE 100 and not 1,000 (bench/storage.py, live task, the pass after every batch of 100
iterations, VACUUM after each pass that moved points, 12-07, shared 2-core machine):
    COMPACT_AGE_ITERATIONS            1000      100       0
    --points 5000 (10 series)        142.5    109.8    86.5   bytes/point (224.3 without aging)
    --points 20000 (default)          78.9     66.5      -
The rows a series keeps oscillate between AGE and AGE + 999 (+ the iterations written between two
passes), and a chunk's heap and indexes keep the size of that peak: the space aged rows leave is
reused by the next rows after VACUUM (btree pages only one VACUUM later: an index reaches about
twice its live size). With AGE 1,000 a 5,000-iteration run peaks at 2,000 rows per series (40% of
its points at ~193 bytes) and cannot meet 120; a long run can (78.9 at 20,000 iterations).
The rest is the blocks (~23 bytes per point with 0008's layout) and the pre-aggregates (~31).
A move's transaction holds the series' lock (/tmp script over bench/ingest.py's database, 12-07):
9-27 ms for one block, 48 ms for compact.STEP = 10; a pass usually finds one block per due series.
Ingestion (bench/ingest.py --events 1000000, two rounds each, in turn, a pass every 2 seconds,
EVENTS_COMPACT_INTERVAL_SEC=2, against passes off, 0; ~1,950 of the 2,000 blocks aged meanwhile):
1 writer 12,180 / 15,961 vs 13,144 / 17,014 events/s (-6%, both rounds); 4 writers 17,754 / 21,281
vs 16,700 / 19,651 (+7%): within the shared machine's noise; the pass' own work shares the 2 cores.
Against main (bench/ingest.py --events 500000 from main's tree and this one, in turn, passes every 2
seconds on both, load average 5.5-6.5): 1 writer 14,480 / 15,508 vs 18,218 / 32,483 events/s, 4
writers 42,103 / 18,008 vs 17,690 / 38,089: too noisy to tell; not shown faster or equal. What is
known: a batch for a series whose old blocks a pass is moving waits for that move (9-27 ms a block),
at most once per 1,000 iterations of the series.
A batch's pre-aggregate refresh reads a series' blocks by iteration (compact.rows' `iters`): with
bucket bounds it is a range of the primary key; without, every block of the series was visited
(10 width-10 buckets at a series' head, 990 blocks: 1.3 ms -> 0.3 ms).
"""
from alembic import op
import sqlalchemy as sa

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("series", sa.Column("aged_through", sa.BigInteger()))


def downgrade() -> None:
    # Aged blocks are blocks like any other (0008's downgrade turns them back into rows).
    op.drop_column("series", "aged_through")
