"""bench/layout.py: the measurement behind the storage layout (migrations/versions/0001_initial.py).

Loads the same N scalar points (default 1,000,000 = 10 series x 100,000 iterations) by COPY into
three candidate layouts, each with the indexes its queries need, and times one downsampling
query per series (1,000 buckets by iteration, avg/min/max) and the "last 100 values" of every
series:
  narrow-hyper  what we use: typed columns, series key, hypertable by event time (7-day chunks),
                indexes (task_key, ts, id) and (series_key, iter)
  narrow-plain  the same columns and indexes in a plain table
  jsonb-hyper   one table for every event type: the document as JSONB plus (task, ts),
                hypertable by time, expression index on (task, metric, variant, iter)
Prints rows/s, table size and query medians. Uses scratch tables in the bench database.

    .venv/bin/python bench/layout.py [--points 1000000]
"""
from __future__ import annotations

import argparse
import time

import orjson
import psycopg

from common import bench_database_url, fresh_database, libpq_dsn, median_ms

SERIES = 10
T0 = 1_790_000_000_000
WEEK_MS = 7 * 24 * 3600 * 1000

LAYOUTS = {
    "narrow-hyper": [
        "CREATE TABLE l_narrow_hyper (company_key int NOT NULL, task_key bigint NOT NULL,"
        " series_key bigint NOT NULL, id bigint NOT NULL DEFAULT nextval('event_id_seq'),"
        " ts bigint NOT NULL, iter bigint, worker text, received bigint NOT NULL, value float8, extra jsonb)",
        f"SELECT create_hypertable('l_narrow_hyper', by_range('ts', {WEEK_MS}),"
        " create_default_indexes => false)",
        "CREATE INDEX ON l_narrow_hyper (task_key, ts, id)",
        "CREATE INDEX ON l_narrow_hyper (series_key, iter)",
    ],
    "narrow-plain": [
        "CREATE TABLE l_narrow_plain (company_key int NOT NULL, task_key bigint NOT NULL,"
        " series_key bigint NOT NULL, id bigint NOT NULL DEFAULT nextval('event_id_seq'),"
        " ts bigint NOT NULL, iter bigint, worker text, received bigint NOT NULL, value float8, extra jsonb)",
        "CREATE INDEX ON l_narrow_plain (task_key, ts, id)",
        "CREATE INDEX ON l_narrow_plain (series_key, iter)",
    ],
    "jsonb-hyper": [
        "CREATE TABLE l_jsonb_hyper (company_key int NOT NULL, task text NOT NULL, ts bigint NOT NULL,"
        " id bigint NOT NULL DEFAULT nextval('event_id_seq'), doc jsonb NOT NULL)",
        f"SELECT create_hypertable('l_jsonb_hyper', by_range('ts', {WEEK_MS}),"
        " create_default_indexes => false)",
        "CREATE INDEX ON l_jsonb_hyper (task, ts, id)",
        "CREATE INDEX ON l_jsonb_hyper (task, (doc->>'metric'), (doc->>'variant'), ((doc->>'iter')::bigint))",
    ],
}


def rows_for(layout: str, points: int):
    task = "f" * 32
    for i in range(points // SERIES):
        for s in range(SERIES):
            ts, value = T0 + i * 10, i * 0.001 + s
            if layout == "jsonb-hyper":
                doc = {"timestamp": ts, "type": "training_stats_scalar", "task": task, "iter": i,
                       "metric": f"metric{s}", "variant": "value", "value": value, "worker": "<unknown>",
                       "@timestamp": "2026-11-28T10:00:00.000Z"}
                yield (1, task, ts, orjson.dumps(doc).decode())
            else:
                yield (1, 1, s + 1, ts, i, "<unknown>", T0, value, None)


COLUMNS = {
    "narrow-hyper": "company_key, task_key, series_key, ts, iter, worker, received, value, extra",
    "narrow-plain": "company_key, task_key, series_key, ts, iter, worker, received, value, extra",
    "jsonb-hyper": "company_key, task, ts, doc",
}


def queries(layout: str, table: str, points: int) -> dict[str, str]:
    width = max(1, -(-(points // SERIES) // 1000))
    if layout == "jsonb-hyper":
        series = ("task = 'ffffffffffffffffffffffffffffffff' AND doc->>'metric' = 'metric3'"
                  " AND doc->>'variant' = 'value'")
        it = "(doc->>'iter')::bigint"
        val = "(doc->>'value')::float8"
        return {
            "downsample one series to 1000 points":
                f"SELECT {it} / {width}, avg({val}), min({val}), max({val}) "
                f"FROM {table} WHERE {series} GROUP BY 1",
            "last 100 values of one series":
                f"SELECT avg(v) FROM (SELECT {val} v FROM {table} WHERE {series} "
                f"ORDER BY {it} DESC LIMIT 100) x",
        }
    return {
        "downsample one series to 1000 points": f"SELECT iter / {width}, avg(value), min(value), max(value) "
                                                f"FROM {table} WHERE series_key = 4 GROUP BY 1",
        "last 100 values of one series": f"SELECT avg(value) FROM (SELECT value FROM {table} "
                                         f"WHERE series_key = 4 ORDER BY iter DESC LIMIT 100) x",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=1_000_000)
    args = parser.parse_args()
    url = bench_database_url()
    fresh_database(url)
    print(f"{args.points:,} scalar points, {SERIES} series, COPY in one transaction")
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        for layout, ddl in LAYOUTS.items():
            table = "l_" + layout.replace("-", "_")
            for statement in ddl:
                conn.execute(statement)
            rows = list(rows_for(layout, args.points))
            start = time.perf_counter()
            with conn.transaction(), conn.cursor() as cur, \
                    cur.copy(f"COPY {table} ({COLUMNS[layout]}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            seconds = time.perf_counter() - start
            conn.execute(f"VACUUM ANALYZE {table}")
            size = conn.execute(
                "SELECT pg_size_pretty(coalesce((SELECT sum(total_bytes)"
                f" FROM hypertable_detailed_size('{table}')),"
                f" pg_total_relation_size('{table}')))" if "hyper" in layout else
                f"SELECT pg_size_pretty(pg_total_relation_size('{table}'))").fetchone()[0]
            print(f"\n{layout:13s} COPY {args.points / seconds:>9,.0f} rows/s   size {size}")
            for name, sql in queries(layout, table, args.points).items():
                ms = median_ms(lambda: conn.execute(sql).fetchall())
                print(f"  {name:40s} {ms:8.1f} ms (median of 5)")
            conn.execute(f"DROP TABLE {table}")


if __name__ == "__main__":
    main()
