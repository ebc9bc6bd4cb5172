"""scalar_blocks: the compact form of scalar events that can no longer change.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-06

Why (issue 16, "size")
A scalar point stored as a `scalar_events` row costs about 190 bytes with its two indexes (tuple
header, eight key and time columns, two index entries), for 8 bytes of value. Once a task has ended
its points no longer change (a re-sent event is the rare exception, handled below), so they are
moved into blocks: one row per series and 1,000 consecutive iterations (bucket = floor(iter /
1000)), one array per column. PostgreSQL compresses each array (TOAST, lz4, ~8 kB per array), and
the only index is the primary key (series_key, bucket): one entry per 1,000 points.

What a block keeps, so that every read answers byte for byte as before: the event ids (the keyset
tie-breaker of get_task_events), times, iterations, values, workers, ingestion times and extra
fields. Redundant columns are stored once per block instead of per point:
- `iters` is NULL when the block's iterations are contiguous (first_iter .. last_iter, n of them):
  the usual case; a point's iteration is then first_iter + its ordinal - 1.
- `workers` is NULL when every point has the same worker (`one_worker`, possibly NULL);
  `receiveds` is NULL when every point was ingested at once (`one_received`).
- `extras` is NULL when no point has extra fields.
Events without an iteration are never compacted (at most one per series: they stay rows).
min_ts/max_ts and first_iter/last_iter let a read skip blocks outside its time or iteration range;
n (points) and n_values (points with a value) let a read of the first N points in iteration or time
order skip the blocks that cannot hold any of them (compact.rows' `first`).

Measured (bench/compact_layouts.py over bench/storage.py's finished task, 50,000 points, 12-06,
without the pre-aggregates, which every layout keeps):
    rows as today (scalar_events, 2 indexes)                              190.9 bytes/point
    narrow rows (series, iter, ts, id, received, worker, value), 1 index  125.8
    blocks of 1,000, one array per column, lz4 / pglz                    27.4 / 23.4
    the same, iter/ts/id as int4 offsets from the block's first, lz4      27.4
    iterations implied when contiguous, received and worker once per
    block when constant, lz4 (this layout, ts and id kept as bigint)      ~23
int4 offsets gained nothing once lz4 compressed the arrays, and would need a fallback for blocks
spanning more than 24 days or 2^31 ids, so ts and ids stay bigint. The value (8 bytes of a double,
incompressible by lz4) and the ts and id arrays leave ~20 bytes per point; the pre-aggregates
(scalar_buckets, kept as they are: histograms read them unchanged) add ~30 more.

Measured with this revision (12-06, shared machine):
    bench/storage.py --points 5000 --logs 20000 --plots 100: scalar bytes/point finished 54.4
        (224.8 as rows: ~23 in blocks, ~31 of pre-aggregates), live 223.8
    bench/compacted.py --points 20000 (compact vs rows, in turn): one whole series 0.80x
        (batch_size 10,000) / 1.02x (500); histograms 0.74-0.90x; latest values 1.6x and the
        first get_task_events page 1.9x (a block is unnested whole: a block per series).
Why 1,000 iterations a block (reasoned, not measured here): larger blocks would compress a little
better but make those first-N reads (latest values, first pages) unnest more; smaller ones pay more
row and TOAST overhead per point.

`series.compacted_received` is the series' last_received when it was last compacted: a scalar
series of an ended task whose last_received differs has rows to compact (ingestion sets
last_received on every write, a re-send included), found from `series` alone.

Reads: events_service/db/queries/compact.py is the one place that knows both forms; every read
of scalar events takes its rows from there (the raw rows unioned with the unnested blocks).
Writes: compaction moves a series' rows into blocks under the series' advisory lock (the lock
ingestion takes), in one transaction per series; a re-sent event for a compacted iteration first
turns its block back into rows, then replaces the row as before (exactly one event per key).
"""
from alembic import op
import sqlalchemy as sa

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        CREATE TABLE scalar_blocks (
            series_key bigint NOT NULL,
            bucket bigint NOT NULL,
            company_key integer NOT NULL,
            task_key bigint NOT NULL,
            first_iter bigint NOT NULL,
            last_iter bigint NOT NULL,
            min_ts bigint NOT NULL,
            max_ts bigint NOT NULL,
            n integer NOT NULL,
            n_values integer NOT NULL,
            one_worker text,
            one_received bigint,
            ids bigint[] COMPRESSION lz4 NOT NULL,
            times bigint[] COMPRESSION lz4 NOT NULL,
            vals float8[] COMPRESSION lz4 NOT NULL,
            iters bigint[] COMPRESSION lz4,
            workers text[] COMPRESSION lz4,
            receiveds bigint[] COMPRESSION lz4,
            extras jsonb[] COMPRESSION lz4,
            CONSTRAINT pk_scalar_blocks PRIMARY KEY (series_key, bucket),
            CONSTRAINT fk_scalar_blocks_series_key_series FOREIGN KEY (series_key) REFERENCES series (key)
                ON DELETE CASCADE
        )""")
    op.execute("CREATE INDEX ix_scalar_blocks_task_key ON scalar_blocks (task_key)")
    op.add_column("series", sa.Column("compacted_received", sa.BigInteger()))


def downgrade() -> None:
    # The blocks' events go back to rows first: a downgrade loses nothing.
    op.execute("""
        INSERT INTO scalar_events (company_key, task_key, series_key, id, ts, iter, worker, received, value,
                                   extra)
        SELECT b.company_key, b.task_key, b.series_key, u.id, u.ts, coalesce(u.iter, b.first_iter + u.n - 1),
               CASE WHEN b.workers IS NULL THEN b.one_worker ELSE u.worker END,
               coalesce(u.received, b.one_received), u.value, u.extra
        FROM scalar_blocks b
        CROSS JOIN LATERAL unnest(b.ids, b.times, b.vals, b.iters, b.workers, b.receiveds, b.extras)
             WITH ORDINALITY AS u(id, ts, value, iter, worker, received, extra, n)""")
    op.execute("DROP TABLE scalar_blocks")
    op.drop_column("series", "compacted_received")
