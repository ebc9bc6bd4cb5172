"""Scalar pre-aggregates: per-series buckets of 10, 100 and 1000 iterations.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28

The Apache build of TimescaleDB has no continuous aggregates, so ingestion keeps these rows in
step itself, in the same transaction as the events (design and exactness argument in
events_service/db/queries/scalars.py). A row is keyed by (series, width, bucket index =
floor(iter / width)) and holds count, sum, min and max of the values and the first and last
iteration present. Rows go with their series (FOREIGN KEY ... ON DELETE CASCADE), so deleting a
task's series removes its pre-aggregates in the same statement.

Upgrading a database that already has scalars fills the table from the raw points.
"""
from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SINGLE_VALUE_ITER = -2 ** 31


def _floor_div(expr: str, divisor: int) -> str:
    # mod(), not %: `alembic upgrade --sql` doubles a % (the driver's paramstyle), which psql rejects
    return f"({expr} / {divisor} - CASE WHEN mod({expr}, {divisor}) < 0 THEN 1 ELSE 0 END)"


def upgrade() -> None:
    op.create_table(
        "scalar_buckets",
        sa.Column("company_key", sa.Integer(), nullable=False),
        sa.Column("series_key", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.SmallInteger(), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("value_count", sa.Integer(), nullable=False),
        sa.Column("value_sum", sa.Double(), nullable=False),
        sa.Column("min_value", sa.Double(), nullable=False),
        sa.Column("max_value", sa.Double(), nullable=False),
        sa.Column("min_iter", sa.BigInteger(), nullable=False),
        sa.Column("max_iter", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["series_key"], ["series.key"],
                                name=op.f("fk_scalar_buckets_series_key_series"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("series_key", "width", "bucket", name=op.f("pk_scalar_buckets")),
    )
    # Backfill: the finest level from the raw points, each coarser level from the one below.
    op.execute(f"""
        INSERT INTO scalar_buckets
        SELECT company_key, series_key, 10, {_floor_div('iter', 10)}, count(*), sum(value), min(value),
               max(value), min(iter), max(iter)
        FROM scalar_events
        WHERE iter IS NOT NULL AND iter <> {SINGLE_VALUE_ITER} AND value IS NOT NULL
        GROUP BY company_key, series_key, {_floor_div('iter', 10)}""")
    for width in (100, 1000):
        op.execute(f"""
            INSERT INTO scalar_buckets
            SELECT company_key, series_key, {width}, {_floor_div('bucket', 10)}, sum(value_count),
                   sum(value_sum), min(min_value), max(max_value), min(min_iter), max(max_iter)
            FROM scalar_buckets WHERE width = {width // 10}
            GROUP BY company_key, series_key, {_floor_div('bucket', 10)}""")


def downgrade() -> None:
    op.drop_table("scalar_buckets")
