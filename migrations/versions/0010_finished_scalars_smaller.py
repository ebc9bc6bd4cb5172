"""Finished scalars at most 16 bytes per point: block times and ids as a line plus residuals, and the
pre-aggregates of widths 10 and 100 inside the blocks.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Where the bytes went (bench/storage.py --points 5000 --logs 20000 --plots 100, its finished task:
50,000 points in 50 blocks, at 0009): 54.5 bytes/point = scalar_blocks ~23 (per 1,000-point block
after lz4: vals 8,020 B, times 4,418 B, ids 4,065 B, plus row and TOAST overhead) + scalar_buckets
~31 (one width-10 row per 10 points at ~280 B with the primary key that INCLUDEs the payload;
widths 100 and 1000 are 10x and 100x fewer). The values are doubles lz4 cannot compress: 8 B/point
is the floor.

1. Times and ids as a line plus residuals. A point's value at ordinal o (1-based, in iteration
   order) is base + (o - 1) * step + residual_o: `times_base`/`times_step` and `ids_base`/`ids_step`
   per block, base = the first value, step = (last - first) / (n - 1) truncated, and the `times`/
   `ids` arrays now hold the residuals, NULL when all are 0 (as `iters` is NULL when the iterations
   are contiguous). A prediction lies between the first and last value, so neither it nor a
   residual leaves int64 while every value is within +-2^62; a block with a value beyond falls back
   to base 0, step 0, residual = the value (tests: ids at both int64 limits). Measured in psql
   over the bench's 50 blocks: delta encoding (successive differences) made times/ids 4,420/4,067 ->
   130/125 bytes per block, but decoding it needs a running sum (`sum() OVER (ORDER BY
   ordinality)`), which made unnesting 50,000 points 12 -> 32 ms; a line plus residuals decodes
   with arithmetic on the ordinal (compact._UNNESTED), the bench's regular series store no array
   at all, and jittery real times leave small residuals, which lz4 compresses better than bigints.
2. Pre-aggregates of widths 10 and 100 in the block. First tried: dropping an ended task's width-10
   rows, histograms reading the points for intervals below 100 (a `series.finest_width`): 16.6
   bytes/point, but bench/compacted.py's histogram at samples=1000 (interval 20 over 20,000
   iterations) went from reading 2,000 stored rows to 20,000 points: 5.5x slower than the same task
   as rows. So a block keeps its own buckets instead, as arrays with one element per bucket
   (sums_W, mins_W, maxs_W: doubles; counts_W, firsts_W, lasts_W: smallint, NULL when every bucket
   with a point is full, so implied), about 2.5 bytes per point for width 10 against ~28 as rows.
   Compaction of an ended task deletes the series' rows of widths 10 and 100 (only width 1000
   stays rows: per-series statistics read it); a running task keeps them. Every read of the
   pre-aggregates goes through compact.buckets: the rows, plus a block's buckets that no row has
   (a row is recomputed by ingestion from the points of both forms, so it holds them all); a
   re-sent event's expanded block turns its buckets back into rows first.
   Unnesting the arrays in the select list (ProjectSet) instead of in FROM made reading them 3x
   faster (unnest() in FROM copies every row into a tuplestore); the same change made unnesting
   points 2x faster (20,000 points: 4.5 vs 9 ms).

Measured with this revision (12-06, shared 2-core machine, load average ~7 from three other
engineers' work: timings are noisy, ratios are of calls made in turn):
    bench/storage.py --points 5000 --logs 20000 --plots 100: scalar bytes/point finished 14.8
        (54.5 at 0009: blocks ~14 with their own buckets, width-1000 rows ~0.3); live unchanged 224.0;
        at the default size (10 x 20,000 points a task) 13.2: a table's fixed pages weigh less
    bench/compacted.py --points 20000, compact/rows (0009 in brackets), a quieter moment (load ~3):
        one whole series 0.78x at batch_size 10,000 (0.80x), 1.09x at 500 (1.02x); histograms
        samples=1000 1.07x (0.74-0.90x; widths 10 read from the blocks' arrays, 5.5x when they were
        dropped), samples=10000 0.67x, by timestamp 0.86x; a whole task 1.06x (1.07x); latest values
        1.51x (1.6x); first get_task_events page 2.10x (1.9x). Under load ~7 the same ran 0.92x,
        1.11x, 1.19x, 0.70x, 0.83x, 1.07x, 1.59x, 1.33x.
    A task in rows, this revision against 0009's code on one database, called in turn (75 rounds,
    five runs): events.add_batch of 1,000 events -6% to +9%, +0 to +3% in the three quieter runs
    (a bucket's children are read through compact.buckets: one block lookup per series);
    scalar_metrics_iter_histogram samples=1000 +8% to +9% in those (~1.5 ms of ~18: the bucket
    query's longer SQL is planned on every call, custom plans).

Upgrade: re-encodes every block in place and computes its buckets; deletes the rows of widths 10
and 100 that blocks of ended tasks now hold. Downgrade: the blocks' buckets become rows again (a row
already there wins), and the ids and times arrays are whole again. dashboards.scalar_points (0009)
decodes the new form. A migration keeps its own copy of the SQL (it must stay what it was when
written).
"""
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ENDED = "('completed', 'stopped', 'failed', 'published', 'closed')"
LIMIT = 2 ** 62
SINGLE_VALUE_ITER = -2 ** 31


def fit(array: str) -> str:
    """SQL (base, step, residuals or NULL) of a bigint array, as compact.fit writes it."""
    n = f"cardinality({array})"
    return f"""
        SELECT f.base, f.step,
               CASE WHEN bool_and(u.v = f.base + (u.o - 1) * f.step) THEN NULL
                    ELSE array_agg(u.v - (f.base + (u.o - 1) * f.step) ORDER BY u.o) END
        FROM (SELECT CASE WHEN r.fits THEN {array}[1] ELSE 0 END AS base,
                     CASE WHEN r.fits AND {n} > 1 THEN ({array}[{n}] - {array}[1]) / ({n} - 1) ELSE 0 END
                     AS step
              FROM (SELECT min(v) > -{LIMIT} AND max(v) < {LIMIT} AS fits FROM unnest({array}) v) r) f
        CROSS JOIN unnest({array}) WITH ORDINALITY AS u(v, o)
        GROUP BY f.base, f.step"""


def unfit(name: str) -> str:
    """SQL of the full array of `name` (ids, times) of block b, as 0008 stored it."""
    return (f"(SELECT array_agg(b.{name}_base + (o - 1) * b.{name}_step + coalesce(b.{name}[o], 0) "
            "ORDER BY o) FROM generate_series(1, b.n) o)")


VIEW = """
CREATE OR REPLACE VIEW dashboards.scalar_points AS
SELECT c.id AS company, c.name AS company_name, p.id AS project_id, p.name AS project,
       t.id AS task_id, t.name AS task, s.metric, s.variant, e.iter AS iteration,
       to_timestamp(e.ts / 1000.0) AS time, e.ts AS ts_ms, e.value
FROM (SELECT company_key, task_key, series_key, iter, ts, value FROM scalar_events
      UNION ALL
      SELECT cb.company_key, cb.task_key, cb.series_key, coalesce(cu.iter, cb.first_iter + cu.ordinal - 1),
             {ts}, cu.value
      FROM scalar_blocks cb CROSS JOIN LATERAL unnest(cb.times, cb.vals, cb.iters)
           WITH ORDINALITY AS cu(ts, value, iter, ordinal)) e
JOIN series s ON s.key = e.series_key
JOIN tasks t ON t.key = e.task_key
JOIN companies c ON c.key = e.company_key
LEFT JOIN projects p ON p.key = t.project_key
"""
DECODED_TS = "cb.times_base + (cu.ordinal - 1) * cb.times_step + coalesce(cu.ts, 0)"


PRE_ARRAYS = (("sums", "total", "float8"), ("mins", "low", "float8"), ("maxs", "high", "float8"),
              ("counts", "n", "smallint"), ("firsts", "first", "smallint"), ("lasts", "last", "smallint"))
PRE_COLUMNS = [f"{name}_{w}" for w in (10, 100) for name, _, _ in PRE_ARRAYS]


def pre_arrays(grouped: str, width: int) -> str:
    columns = [f"CASE WHEN count(g.n) > 0 THEN array_agg(g.{src} ORDER BY s.pos) END"
               for _, src, _ in PRE_ARRAYS[:3]]
    columns += [f"CASE WHEN bool_or(g.n < {width}) THEN array_agg(g.{src}::smallint ORDER BY s.pos) END"
                for _, src, _ in PRE_ARRAYS[3:]]
    return (f"SELECT {', '.join(columns)} FROM generate_series(0, {1000 // width - 1}) AS s(pos) "
            f"LEFT JOIN {grouped} g ON g.pos = s.pos")


# a block's own pre-aggregates of widths 10 and 100, from its points (as compact._pre_aggregates)
PRE_AGGREGATES = f"""
    WITH p AS (SELECT u.v, coalesce(b.iters[u.o], b.first_iter + u.o - 1) AS i
               FROM unnest(b.vals) WITH ORDINALITY AS u(v, o)),
    g10 AS (SELECT floor(p.i::numeric / 10)::bigint - b.bucket * 100 AS pos, count(*) AS n,
                   sum(p.v ORDER BY p.i) AS total, min(p.v) AS low, max(p.v) AS high,
                   min(p.i) - b.first_iter AS first, max(p.i) - b.first_iter AS last
            FROM p WHERE p.v IS NOT NULL AND p.i <> {SINGLE_VALUE_ITER} GROUP BY 1),
    g100 AS (SELECT pos / 10 AS pos, sum(n) AS n, sum(total ORDER BY pos) AS total, min(low) AS low,
                    max(high) AS high, min(first) AS first, max(last) AS last FROM g10 GROUP BY 1)
    SELECT * FROM ({pre_arrays('g10', 10)}) a10, ({pre_arrays('g100', 100)}) a100"""


def block_buckets(width: int) -> str:
    """The buckets of `width` blocks hold, as scalar_buckets rows (as compact._block_buckets)."""
    k = f"(cb.bucket * {1000 // width} + ca.o - 1)"
    arrays = ", ".join(f"cb.{name}_{width}" for name, _, _ in PRE_ARRAYS)
    return f"""
        SELECT cb.company_key, cb.series_key, {width}, {k}, coalesce(ca.n, {width}), ca.total, ca.low,
               ca.high,
               CASE WHEN ca.first IS NULL THEN {k} * {width} ELSE cb.first_iter + ca.first END,
               CASE WHEN ca.last IS NULL THEN {k} * {width} + {width} - 1 ELSE cb.first_iter + ca.last END
        FROM scalar_blocks cb
        CROSS JOIN LATERAL unnest({arrays}) WITH ORDINALITY AS ca(total, low, high, n, first, last, o)
        WHERE ca.total IS NOT NULL"""


def upgrade() -> None:
    op.execute("ALTER TABLE scalar_blocks ADD COLUMN ids_base bigint NOT NULL DEFAULT 0, "
               "ADD COLUMN ids_step bigint NOT NULL DEFAULT 0, "
               "ADD COLUMN times_base bigint NOT NULL DEFAULT 0, "
               "ADD COLUMN times_step bigint NOT NULL DEFAULT 0, ALTER COLUMN ids DROP NOT NULL, "
               "ALTER COLUMN times DROP NOT NULL, "
               + ", ".join(f"ADD COLUMN {name}_{w} {kind}[] COMPRESSION lz4" for w in (10, 100)
                           for name, _, kind in PRE_ARRAYS))
    op.execute(f"UPDATE scalar_blocks b SET (ids_base, ids_step, ids) = ({fit('b.ids')}), "
               f"(times_base, times_step, times) = ({fit('b.times')}), "
               f"({', '.join(PRE_COLUMNS)}) = ({PRE_AGGREGATES})")
    for column in ("ids_base", "ids_step", "times_base", "times_step"):
        op.execute(f"ALTER TABLE scalar_blocks ALTER COLUMN {column} DROP DEFAULT")
    op.execute(VIEW.format(ts=DECODED_TS))
    # an ended task's buckets that blocks now hold (as compact._drop_block_buckets), of the series with
    # nothing written since their compaction (else rows may share a block's range)
    op.execute(f"""
        DELETE FROM scalar_buckets b USING scalar_blocks cb, series s, tasks t
        WHERE b.width IN (10, 100) AND s.key = b.series_key AND t.key = s.task_key AND t.status IN {ENDED}
            AND s.last_received IS NOT DISTINCT FROM s.compacted_received
            AND cb.series_key = b.series_key
            AND cb.bucket = floor(b.bucket::numeric / (1000 / b.width))::bigint""")


def downgrade() -> None:
    # the blocks' buckets become rows again (a row already there holds every point of its bucket)
    op.execute("INSERT INTO scalar_buckets (company_key, series_key, width, bucket, value_count, value_sum, "
               "min_value, max_value, min_iter, max_iter) "
               f"{block_buckets(10)} UNION ALL {block_buckets(100)} "
               "ON CONFLICT (series_key, width, bucket) DO NOTHING")
    op.execute(f"UPDATE scalar_blocks b SET ids = {unfit('ids')}, times = {unfit('times')}")
    op.execute(VIEW.format(ts="cu.ts"))
    op.execute("ALTER TABLE scalar_blocks DROP COLUMN ids_base, DROP COLUMN ids_step, "
               "DROP COLUMN times_base, DROP COLUMN times_step, ALTER COLUMN ids SET NOT NULL, "
               "ALTER COLUMN times SET NOT NULL, " + ", ".join(f"DROP COLUMN {c}" for c in PRE_COLUMNS))
