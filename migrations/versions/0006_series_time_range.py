"""series.min_ts: every read of the event hypertables is bounded by its series' time range; large
text and arrays are TOAST-compressed with lz4.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-06

Why (issue 16, "aging")
The event hypertables are partitioned by the event's own time in 7-day chunks (0001), but the
reads went by task or series with no condition on `ts`. PostgreSQL then planned, and TimescaleDB
scanned, every chunk for each read, whether the task had rows there or not, so one task's reads
slowed down as other tasks' data added chunks. bench/chunks.py --weeks 260 (task A: 10 series x
20,000 points in one chunk, timed before and after task B spread the table over 260 weekly
chunks), before this revision:
    get_task_latest_scalar_values                 8.1 ms ->  44.0 ms (5.4x)
    get_task_events, first page of 500           11.2 ms ->  38.5 ms (3.4x)
    get_scalar_metric_data, one whole series     87.6 ms -> 144.8 ms (1.7x)
(the issue's figures). bench/chunks.py now builds both databases (A alone; A and B) and calls
them in turn through two gunicorns, so a shared machine's drift hits both sides alike. 12-06:
    previous head (--tree of 0d91da1)   5.2x (latest values), 1.0x (histogram by iteration), 1.2x (by time),
                                         1.4x (paging one series), 2.0x (first events page)
    this revision                        0.9x, 1.1x, 0.9x, 1.0x, 1.1x
In psql the latest-values statement takes 0.8 ms (planning + execution) bounded against 30-77 ms
unbounded at 260 chunks. The cost: one more statement per read (the span lookup, a few series
rows); at one chunk, two bench/compare.py runs on a loaded machine measured latest values +26%
and +6%, paging one series +5% and +10%.

What: `series` gains `min_ts`, the lowest event time stored, beside the existing `max_ts`.
Ingestion keeps both (LEAST / GREATEST under the series' advisory lock). Replacing or deleting an
event never narrows them, so [min_ts, max_ts] always covers every stored event of the series: a
bound never hides an event, at worst it is wider than needed. Every read takes the range of the
series (or task) it reads from the series rows and writes it into its statement as integer
constants (db/queries/timerange.py): TimescaleDB excludes chunks at plan time only for constants
on the time column (a parameter of a generic plan excludes nothing, and a value from a join is
excluded at run time only, after planning every chunk). A task's run lands in one or two chunks,
so its reads plan and scan those, whatever the table's age.

Alternatives considered: longer chunks only postpone the cost (and make drop_chunks coarser);
partitioning by task (space dimension) would multiply the chunks and gives nothing to retention
by age.

Compression of large values: plot_str, log msg, vector values and every `extra` use lz4 instead
of PostgreSQL's default pglz when TOAST compresses them (values over ~2 kB: plots, long log
lines). lz4 compresses JSON text about as well and several times faster both ways, so reading a
plot costs less CPU. TimescaleDB carries the setting to existing and future chunks; it is
catalog-only (no rewrite): values already stored keep pglz until rewritten, new ones get lz4.

Upgrade in place: the column is added (no rewrite, NULL default), then filled per event table from
min(ts) per series - one scan of each hypertable, in the migration's transaction. A series with
events but no min_ts cannot be left behind: readers treat a missing min_ts as unbounded below.
"""
from alembic import op
import sqlalchemy as sa

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

EVENT_TABLES = ("scalar_events", "vector_events", "image_events", "plot_events", "log_events")
LZ4_COLUMNS = [("plot_events", "plot_str"), ("log_events", "msg"), ("vector_events", "value")] \
    + [(table, "extra") for table in EVENT_TABLES]


def upgrade() -> None:
    op.add_column("series", sa.Column("min_ts", sa.BigInteger()))
    for table in EVENT_TABLES:
        op.execute(f"UPDATE series s SET min_ts = m.min_ts FROM (SELECT series_key, min(ts) AS min_ts "
                   f"FROM {table} GROUP BY series_key) m WHERE s.key = m.series_key")
    for table, column in LZ4_COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


def downgrade() -> None:
    for table, column in LZ4_COLUMNS:
        op.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION default")
    op.drop_column("series", "min_ts")
