"""bench/compact_layouts.py: candidate compact layouts for scalars that can no longer change, measured.

Issue 16 asks for at most 16 bytes per point once a task has finished. This builds each candidate
from the finished task's rows that bench/storage.py wrote (run that first, same database), in a
scratch schema, and prints bytes per point (heap + TOAST + indexes, after VACUUM) and the time to
read one whole series back as rows (iter, ts, id, received, worker, value), median of 5.
Every candidate keeps everything an event needs to be answered byte for byte (id and received
included: get_task_events orders by (ts, id) and shows the ingestion time).

    .venv/bin/python bench/compact_layouts.py [--database-url URL] [--block 1000]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import libpq_dsn  # noqa: E402

TASK = "storage-finished"
SOURCE = ("SELECT e.* FROM scalar_events e JOIN tasks t ON t.key = e.task_key "
          f"WHERE t.id = '{TASK}' AND e.iter IS NOT NULL")


def _plain_blocks(method: str) -> str:
    """Blocks of consecutive iterations, one plain array per column, TOAST-compressed with `method`."""
    arrays = ", ".join(f"{name} {kind}[] COMPRESSION {method}" for name, kind in (
        ("iters", "bigint"), ("ts", "bigint"), ("ids", "bigint"), ("received", "bigint"), ("workers", "text"),
        ("vals", "float8")))
    return f"""CREATE TABLE c.t (series_key bigint, first_iter bigint, last_iter bigint, min_ts bigint,
                                max_ts bigint, {arrays}, PRIMARY KEY (series_key, first_iter));
           INSERT INTO c.t SELECT series_key, min(iter), max(iter), min(ts), max(ts),
               array_agg(iter ORDER BY iter), array_agg(ts ORDER BY iter), array_agg(id ORDER BY iter),
               array_agg(received ORDER BY iter), array_agg(worker ORDER BY iter),
               array_agg(value ORDER BY iter)
           FROM ({{source}}) s GROUP BY series_key, iter / {{block}};"""


_PLAIN_READ = ("SELECT u.* FROM c.t, unnest(iters, ts, ids, received, workers, vals) u "
               "WHERE series_key = %(s)s ORDER BY first_iter")

# name -> (DDL + fill, read of one series as rows: %(s)s = series key)
CANDIDATES = {
    "rows as today (scalar_events, 2 indexes)": (
        f"""CREATE TABLE c.t AS {SOURCE};
            CREATE INDEX ON c.t (task_key, ts, id); CREATE INDEX ON c.t (series_key, iter);""",
        "SELECT iter, ts, id, received, worker, value FROM c.t WHERE series_key = %(s)s ORDER BY iter"),
    "narrow rows (series, iter, ts, id, received, value), 1 index": (
        f"""CREATE TABLE c.t AS SELECT series_key, iter, ts, id, received, worker, value FROM ({SOURCE}) s;
            CREATE INDEX ON c.t (series_key, iter);""",
        "SELECT iter, ts, id, received, worker, value FROM c.t WHERE series_key = %(s)s ORDER BY iter"),
    "blocks of {block}: plain arrays, lz4": (_plain_blocks("lz4"), _PLAIN_READ),
    "blocks of {block}: plain arrays, pglz": (_plain_blocks("pglz"), _PLAIN_READ),
    "blocks of {block}: iter/ts/id as int4 offsets from the block's first, lz4": (
        """CREATE TABLE c.t (series_key bigint, first_iter bigint, last_iter bigint, min_ts bigint,
                             max_ts bigint, first_id bigint, d_iter int[] COMPRESSION lz4,
                             d_ts int[] COMPRESSION lz4, d_id int[] COMPRESSION lz4,
                             received bigint[] COMPRESSION lz4, workers text[] COMPRESSION lz4,
                             vals float8[] COMPRESSION lz4, PRIMARY KEY (series_key, first_iter));
           INSERT INTO c.t SELECT series_key, min(iter), max(iter), min(ts), max(ts), min(id),
               array_agg((iter - fi)::int ORDER BY iter), array_agg((ts - ft)::int ORDER BY iter),
               array_agg((id - fd)::int ORDER BY iter), array_agg(received ORDER BY iter),
               array_agg(worker ORDER BY iter), array_agg(value ORDER BY iter)
           FROM (SELECT s.*, min(iter) OVER w AS fi, min(ts) OVER w AS ft, min(id) OVER w AS fd
                 FROM ({source}) s WINDOW w AS (PARTITION BY series_key, iter / {block})) s
           GROUP BY series_key, iter / {block};""",
        "SELECT first_iter + u.di, min_ts + u.dt, first_id + u.dd, u.r, u.w, u.v "
        "FROM c.t, unnest(d_iter, d_ts, d_id, received, workers, vals) u(di, dt, dd, r, w, v) "
        "WHERE series_key = %(s)s ORDER BY first_iter"),
    "blocks of {block}: iters implied when contiguous, ts/id as int4 offsets, received/worker once "
    "when constant, lz4": (
        """CREATE TABLE c.t (series_key bigint, first_iter bigint, last_iter bigint, min_ts bigint,
                             max_ts bigint, first_id bigint, one_received bigint, one_worker text,
                             iters bigint[] COMPRESSION lz4, d_ts int[] COMPRESSION lz4,
                             d_id int[] COMPRESSION lz4, received bigint[] COMPRESSION lz4,
                             workers text[] COMPRESSION lz4, vals float8[] COMPRESSION lz4,
                             PRIMARY KEY (series_key, first_iter));
           INSERT INTO c.t SELECT series_key, min(iter), max(iter), min(ts), max(ts), min(id),
               CASE WHEN min(received) = max(received) THEN min(received) END,
               CASE WHEN count(DISTINCT worker) = 1 AND count(worker) = count(*) THEN min(worker) END,
               CASE WHEN max(iter) - min(iter) + 1 <> count(*) THEN array_agg(iter ORDER BY iter) END,
               array_agg((ts - ft)::int ORDER BY iter), array_agg((id - fd)::int ORDER BY iter),
               CASE WHEN min(received) <> max(received) THEN array_agg(received ORDER BY iter) END,
               CASE WHEN NOT (count(DISTINCT worker) = 1 AND count(worker) = count(*))
                    THEN array_agg(worker ORDER BY iter) END,
               array_agg(value ORDER BY iter)
           FROM (SELECT s.*, min(ts) OVER w AS ft, min(id) OVER w AS fd
                 FROM ({source}) s WINDOW w AS (PARTITION BY series_key, iter / {block})) s
           GROUP BY series_key, iter / {block};""",
        "SELECT coalesce(u.i, first_iter + u.n - 1), min_ts + u.dt, first_id + u.dd, "
        "coalesce(u.r, one_received), coalesce(u.w, one_worker), u.v "
        "FROM c.t, unnest(iters, d_ts, d_id, received, workers, vals) "
        "WITH ORDINALITY u(i, dt, dd, r, w, v, n) WHERE series_key = %(s)s ORDER BY first_iter"),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    port = os.environ.get("EVENTS_PG_PORT", "55432")
    parser.add_argument("--database-url", default=os.environ.get(
        "EVENTS_BENCH_STORAGE_DATABASE_URL",
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/events_bench_storage"))
    parser.add_argument("--block", type=int, default=1000, help="iterations per block")
    args = parser.parse_args()
    with psycopg.connect(libpq_dsn(args.database_url), autocommit=True) as conn:
        points = conn.execute(f"SELECT count(*) FROM ({SOURCE}) s").fetchone()[0]
        series = conn.execute(f"SELECT min(series_key) FROM ({SOURCE}) s").fetchone()[0]
        per_series = conn.execute(f"SELECT count(*) FROM ({SOURCE}) s WHERE series_key = %s",
                                  (series,)).fetchone()[0]
        print(f"{points:,} points of task {TASK!r} (one series: {per_series:,}); "
              "without the pre-aggregates (scalar_buckets), which every layout keeps")
        for name, (ddl, read) in CANDIDATES.items():
            conn.execute("DROP SCHEMA IF EXISTS c CASCADE")
            conn.execute("CREATE SCHEMA c")
            conn.execute(ddl.format(source=SOURCE, block=args.block))
            conn.execute("VACUUM ANALYZE c.t")
            size = conn.execute("SELECT pg_total_relation_size('c.t')").fetchone()[0]
            times = []
            for _ in range(6):
                start = time.perf_counter()
                rows = conn.execute(read, {"s": series}).fetchall()
                times.append((time.perf_counter() - start) * 1000)
            assert len(rows) == per_series, (name, len(rows))
            print(f"{name.format(block=args.block):90s} {size / points:6.1f} bytes/point  "
                  f"one series {statistics.median(times[1:]):7.1f} ms")
        conn.execute("DROP SCHEMA c CASCADE")


if __name__ == "__main__":
    main()
