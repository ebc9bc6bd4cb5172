"""Finished scalars at most 16 bytes per point: block times and ids as a line plus residuals, and no
width-10 pre-aggregates for the series of ended tasks.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Where the bytes went (bench/storage.py's finished task, 50,000 points in 50 blocks, at 0009):
54.5 bytes/point = scalar_blocks ~23 (per 1,000-point block after lz4: vals 8,020 B, times
4,418 B, ids 4,065 B, plus row and TOAST overhead) + scalar_buckets ~31 (one width-10 row per 10
points at ~280 B with the primary key that INCLUDEs the payload; widths 100 and 1000 are 10x and
100x fewer). The values are doubles that lz4 cannot compress: 8 B/point is the floor.

1. Times and ids of a block as a line plus residuals. A point's value at ordinal o (1-based, in
   iteration order) is base + (o - 1) * step + residual_o: `times_base`/`times_step` and
   `ids_base`/`ids_step` are per block, base = the first value, step = (last - first) / (n - 1)
   (truncated), and the `times`/`ids` arrays now hold the residuals, NULL when every residual is 0
   (as `iters` is NULL when the iterations are contiguous). A prediction lies between the first and
   last value, so neither it nor a residual leaves int64 as long as every value is within
   +-2^62; a block with a value outside that falls back to base 0, step 0, residual = the value.
   Measured in psql over the bench's 50 blocks: delta encoding (successive differences) made
   times/ids 4,420/4,067 -> 130/125 bytes per block, but decoding it needs a running sum
   (`sum() OVER (ORDER BY ordinality)`), which made unnesting 50,000 points 12 -> 32 ms; a line
   plus residuals decodes with arithmetic on the ordinal (compact._UNNESTED, no window), and the
   bench's regular series store no array at all; jittery real times leave small residuals, which
   lz4 compresses better than the raw bigints.
2. The width-10 pre-aggregates of a series are dropped when compaction finds its task ended:
   `series.finest_width` (10, or 100 once dropped) tells ingestion which level to recompute from
   the points (db/queries/scalars.maintain_buckets: a re-sent event or a resumed task keeps the
   buckets exact) and histograms which widths they may read (sampling.choose_width); intervals
   below 100 read the points, in either form (compact.rows). Running tasks keep width 10.

Measured with this revision (12-06, shared machine, figures in the README and the report):
see the table at the end of this docstring.

Upgrade: re-encodes every block in place, drops the width-10 buckets of the compacted series of
ended tasks. Downgrade: decodes the blocks back to full arrays and rebuilds the width-10 buckets
from the points of both forms. dashboards.scalar_points (0009) decodes the new form. A migration
keeps its own copy of the SQL (it must stay what it was when written).
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


def _floor_div(expr: str, divisor: int) -> str:
    return f"({expr} / {divisor} - CASE WHEN mod({expr}, {divisor}) < 0 THEN 1 ELSE 0 END)"


def upgrade() -> None:
    op.execute("ALTER TABLE scalar_blocks ADD COLUMN ids_base bigint NOT NULL DEFAULT 0, "
               "ADD COLUMN ids_step bigint NOT NULL DEFAULT 0, "
               "ADD COLUMN times_base bigint NOT NULL DEFAULT 0, "
               "ADD COLUMN times_step bigint NOT NULL DEFAULT 0, ALTER COLUMN ids DROP NOT NULL, "
               "ALTER COLUMN times DROP NOT NULL")
    op.execute(f"UPDATE scalar_blocks b SET (ids_base, ids_step, ids) = ({fit('b.ids')}), "
               f"(times_base, times_step, times) = ({fit('b.times')})")
    for column in ("ids_base", "ids_step", "times_base", "times_step"):
        op.execute(f"ALTER TABLE scalar_blocks ALTER COLUMN {column} DROP DEFAULT")
    op.execute(VIEW.format(ts=DECODED_TS))
    op.execute("ALTER TABLE series ADD COLUMN finest_width smallint NOT NULL DEFAULT 10")
    op.execute(f"UPDATE series s SET finest_width = 100 FROM tasks t WHERE t.key = s.task_key "
               f"AND t.status IN {ENDED} AND s.event_type = 'training_stats_scalar' "
               "AND s.compacted_received IS NOT NULL")
    op.execute("DELETE FROM scalar_buckets b USING series s WHERE s.key = b.series_key "
               "AND s.finest_width = 100 AND b.width = 10")


def downgrade() -> None:
    op.execute(f"UPDATE scalar_blocks b SET ids = {unfit('ids')}, times = {unfit('times')}")
    op.execute(VIEW.format(ts="cu.ts"))
    op.execute("ALTER TABLE scalar_blocks DROP COLUMN ids_base, DROP COLUMN ids_step, "
               "DROP COLUMN times_base, DROP COLUMN times_step, ALTER COLUMN ids SET NOT NULL, "
               "ALTER COLUMN times SET NOT NULL")
    # the width-10 buckets of the series that had none, from their points in both forms
    op.execute(f"""
        INSERT INTO scalar_buckets
        SELECT min(e.company_key), e.series_key, 10, {_floor_div('e.iter', 10)}, count(*), sum(e.value),
               min(e.value), max(e.value), min(e.iter), max(e.iter)
        FROM (SELECT company_key, series_key, iter, value FROM scalar_events
              UNION ALL
              SELECT cb.company_key, cb.series_key, coalesce(cu.iter, cb.first_iter + cu.ordinal - 1),
                     cu.value
              FROM scalar_blocks cb CROSS JOIN LATERAL unnest(cb.vals, cb.iters)
                   WITH ORDINALITY AS cu(value, iter, ordinal)) e
        JOIN series s ON s.key = e.series_key AND s.finest_width <> 10
        WHERE e.iter IS NOT NULL AND e.iter <> {SINGLE_VALUE_ITER} AND e.value IS NOT NULL
        GROUP BY e.series_key, {_floor_div('e.iter', 10)}""")
    op.execute("ALTER TABLE series DROP COLUMN finest_width")
