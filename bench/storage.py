"""bench/storage.py: bytes on disk per stored event, for a realistic mix written over HTTP.

The mix (events.add_batch into a real gunicorn): a live task's scalars (SERIES x POINTS, still
running), a finished task's scalars (the same shape, then tasks.completed and `events-service
compact`: its points in the compact form, migration 0008), console log lines (60-140
characters of text) of a task that then ends and is compacted (`events-service compact`: its lines in
the compact form, migration 0012; the figure of its live rows, before, goes to stderr; 12-06: 279.3
bytes/line as rows, 71.7 compacted, for 120.2 of message) and plots (plotly JSON of a 1,000-point
scatter, ~40 kB). Bytes are measured after VACUUM, by difference of the tables' sizes (heap, TOAST
and indexes of every chunk, plus the scalar pre-aggregates) before and after each part was written,
so each part is charged its own pages only (a compacted task: its share of the blocks and rows).

The live task is measured as it is while being written: after each batch (1,000 events: 100
iterations of each of the 10 series) the compaction pass the service runs periodically
(compaction.run_pass, the setting COMPACT_AGE_ITERATIONS as the service reads it) ages the blocks
far behind each series' newest iteration (migration 0011); when it moved points, a VACUUM follows,
as autovacuum would after those deletes (more than 20% of the chunk's rows), so that the next rows
reuse the space the aged rows left. The figure is the tables' growth at the end (after the last
batch and its pass). The finished task's share of the blocks is by points, as its other shares.

Prints exactly these lines (issue 16's goals: finished <= 16, live <= 120, logs <=
1.5x their messages, plots compressed):

    scalar bytes/point finished: N
    scalar bytes/point live: N
    log bytes/line: N (message bytes: M)
    plot bytes/event: N (plot_str bytes: M)

    .venv/bin/python bench/storage.py [--points 20000] [--series 10] [--logs 100000] [--plots 300]
  Database: EVENTS_BENCH_STORAGE_DATABASE_URL, or events_bench_storage on the local cluster (port
  $EVENTS_PG_PORT, default 55432); it is dropped and re-created.
"""
from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
from pathlib import Path

import orjson
import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_database, gunicorn, libpq_dsn, login  # noqa: E402
from events_service import compaction, config  # noqa: E402
from events_service.db.session import make_engine  # noqa: E402

T0 = 1_790_000_000_000
SCALAR_TABLES = ("hypertable_size('scalar_events') + pg_total_relation_size('scalar_buckets') "
                 "+ pg_total_relation_size('scalar_blocks')")
WORDS = ("epoch loss accuracy step batch learning rate warmup checkpoint saved validation gradient norm "
         "throughput samples/s GPU memory allocated INFO WARNING dataset shard worker").split()


def scalar_lines(task: str, series: int, points: int) -> list[bytes]:
    rng = random.Random(task)
    return [orjson.dumps({"timestamp": T0 + i * 100, "type": "training_stats_scalar", "task": task, "iter": i,
                          "metric": f"metric{m // 3}", "variant": f"variant{m % 3}",
                          "value": rng.gauss(1.0 / (1 + i / 1000), 0.05)})
            for i in range(points) for m in range(series)]


def log_lines(task: str, n: int) -> tuple[list[bytes], int]:
    rng = random.Random(n)
    lines, message_bytes = [], 0
    for i in range(n):
        msg = f"[{i:07d}] " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(8, 18)))
        msg += f" value={rng.random():.6f}"
        message_bytes += len(msg.encode())
        lines.append(orjson.dumps({"timestamp": T0 + i * 10, "type": "log", "task": task, "level": "info",
                                   "worker": "worker-1", "msg": msg}))
    return lines, message_bytes


def plot_lines(task: str, n: int) -> tuple[list[bytes], int]:
    rng = random.Random(n)
    lines, plot_bytes = [], 0
    for i in range(n):
        xs = list(range(1000))
        figure = {"data": [{"type": "scatter", "mode": "markers", "name": f"series {i % 7}", "x": xs,
                            "y": [round(rng.gauss(0, 1), 6) for _ in xs]}],
                  "layout": {"title": f"plot {i}", "xaxis": {"title": "x"}, "yaxis": {"title": "y"}}}
        plot_str = orjson.dumps(figure).decode()
        plot_bytes += len(plot_str.encode())
        lines.append(orjson.dumps({"timestamp": T0 + i * 1000, "type": "plot", "task": task, "iter": i,
                                   "metric": f"plots {i % 5}", "variant": "scatter", "plot_str": plot_str}))
    return lines, plot_bytes


def finished_share(task: str) -> str:
    """The finished task's bytes once compacted: its blocks, and its shares of scalar_events (the rows
    left: events without iteration) and of the pre-aggregates, by rows (as `events-service storage`
    estimates). The pages its rows left empty in the live task's chunk are not charged to it: VACUUM
    makes them free space that the chunk's next rows reuse."""
    key = f"(SELECT key FROM tasks WHERE id = '{task}')"
    return f"""pg_total_relation_size('scalar_blocks') * (
            SELECT coalesce(sum(n) FILTER (WHERE task_key = {key})::float8 / nullif(sum(n), 0), 0)
            FROM scalar_blocks)
        + hypertable_size('scalar_events') * (SELECT count(*) FILTER (WHERE task_key = {key})::float8
                                               / greatest(count(*), 1) FROM scalar_events)
        + pg_total_relation_size('scalar_buckets') * (
            SELECT count(*) FILTER (WHERE series_key IN (SELECT key FROM series WHERE task_key = {key}))
                   ::float8 / greatest(count(*), 1) FROM scalar_buckets)"""


LOG_TABLES = "hypertable_size('log_events') + pg_total_relation_size('log_blocks')"


def compacted_log_share(task: str) -> str:
    """The log task's bytes once compacted: its blocks, and its share of log_events by rows (the rows
    left), as finished_share charges the scalars (the pages its rows left empty are reused)."""
    key = f"(SELECT key FROM tasks WHERE id = '{task}')"
    return f"""pg_total_relation_size('log_blocks') * (
            SELECT coalesce(sum(n) FILTER (WHERE task_key = {key}) / nullif(sum(n), 0), 0)::float8
            FROM log_blocks)
        + hypertable_size('log_events') * (SELECT count(*) FILTER (WHERE task_key = {key})::float8
                                           / greatest(count(*), 1) FROM log_events)"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20_000, help="iterations per scalar series")
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--logs", type=int, default=100_000)
    parser.add_argument("--plots", type=int, default=300)
    port = os.environ.get("EVENTS_PG_PORT", "55432")
    parser.add_argument("--database-url", default=os.environ.get(
        "EVENTS_BENCH_STORAGE_DATABASE_URL",
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/events_bench_storage"))
    args = parser.parse_args()
    url = args.database_url
    credentials = fresh_database(url)

    def size(expr: str) -> int:
        with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
            return int(conn.execute(f"SELECT {expr}").fetchone()[0])

    engine = make_engine(url, pool_size=1)  # the live task's compaction passes, run from here
    age = config.load()["COMPACT_AGE_ITERATIONS"]
    with gunicorn(url, workers=2) as (base, _), requests.Session() as http:
        http.headers.update(login(base, credentials))

        def post(name: str, data: bytes, content_type: str = "application/json") -> None:
            r = http.post(f"{base}/v2.1/{name}", data=data, headers={"Content-Type": content_type})
            r.raise_for_status()

        def ingest(lines: list[bytes], size: int = 1000) -> None:
            for k in range(0, len(lines), size):
                post("events.add_batch", b"\n".join(lines[k:k + size]), "application/json-lines")

        points = args.series * args.points
        results = {}
        for name in ("live", "finished"):  # live first: the finished rows' freed space is not reused
            before = size(SCALAR_TABLES)
            lines = scalar_lines(f"storage-{name}", args.series, args.points)
            if name == "finished":
                ingest(lines)
                post("tasks.completed", orjson.dumps({"task": f"storage-{name}", "force": True}))
                compacted = subprocess.run(
                    [str(Path(sys.executable).with_name("events-service")), "--database-url", url, "compact"],
                    check=True, capture_output=True, text=True).stdout
                print(next(line for line in compacted.splitlines() if " points of " in line), file=sys.stderr)
                results[name] = size(finished_share(f"storage-{name}")) / points
            else:
                aged = 0
                for k in range(0, len(lines), 1000):  # ingest()'s batches (100 iterations of 10 series)
                    ingest(lines[k:k + 1000])
                    moved = compaction.run_pass(engine, age=age).events
                    if moved:
                        size("0")  # VACUUM, as autovacuum would after the pass' deletes
                    aged += moved
                print(f"live: {aged:,} of {points:,} points aged (COMPACT_AGE_ITERATIONS {age})",
                      file=sys.stderr)
                results[name] = (size(SCALAR_TABLES) - before) / points
        before = size(LOG_TABLES)
        logs, message_bytes = log_lines("storage-logs", args.logs)
        ingest(logs)
        live_log_bytes = size(LOG_TABLES) - before
        print(f"log bytes/line live (rows): {live_log_bytes / args.logs:.1f}", file=sys.stderr)
        post("tasks.completed", orjson.dumps({"task": "storage-logs", "force": True}))
        compacted = subprocess.run(
            [str(Path(sys.executable).with_name("events-service")), "--database-url", url, "compact",
             "--task", "storage-logs"], check=True, capture_output=True, text=True).stdout
        print(compacted.strip().splitlines()[-1], file=sys.stderr)
        log_bytes = size(compacted_log_share("storage-logs"))
        before = size("hypertable_size('plot_events')")
        plots, plot_bytes = plot_lines("storage-plots", args.plots)
        ingest(plots, size=50)
        stored_plot_bytes = size("hypertable_size('plot_events')") - before
    engine.dispose()
    print(f"scalar bytes/point finished: {results['finished']:.1f}")
    print(f"scalar bytes/point live: {results['live']:.1f}")
    print(f"log bytes/line: {log_bytes / args.logs:.1f} (message bytes: {message_bytes / args.logs:.1f})")
    print(f"plot bytes/event: {stored_plot_bytes / args.plots:.0f} "
          f"(plot_str bytes: {plot_bytes / args.plots:.0f})")


if __name__ == "__main__":
    main()
