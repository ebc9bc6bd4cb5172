"""bench/chunks.py: how the reads of one task slow down as the hypertables gain chunks.

The event hypertables are partitioned by the event's own time in 7-day chunks (migration 0001),
while the reads go by task or series, with no time bound: PostgreSQL plans (and TimescaleDB
appends) every chunk of the hypertable for each of them, whether the task has rows there or not.
With the data of bench/queries.py (every timestamp within minutes) there is one chunk, so
that bench cannot show it; a service that has run for a year has 52 chunks per event type.

Data: task A, SERIES series x POINTS iterations 10 ms apart (one chunk), then task B, one point
a week for WEEKS weeks per series (WEEKS chunks). Both are ingested over HTTP (events.add_batch)
into a real gunicorn. Two databases are built: A alone (its one chunk), and A plus B. Task A's
calls are timed (median of --repeat, client time) on both, through two gunicorns called in turn
(as bench/compare.py does), so that a shared machine's drift hits both sides alike.

    .venv/bin/python bench/chunks.py                   # 10 x 20,000 points, 52 weeks
    .venv/bin/python bench/chunks.py --weeks 260
  Databases: events_bench_chunks on the local cluster (port $EVENTS_PG_PORT, default 55432), or
  --database-url, and the same name plus "_one"; both are dropped and re-created.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import orjson
import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, fresh_database, gunicorn, libpq_dsn, login  # noqa: E402
from compare import in_turn  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

T0 = 1_790_000_000_000
WEEK_MS = 7 * 24 * 3600 * 1000


def bodies(task: str, series: int, points: int, step_ms: int, size: int = 1000) -> list[bytes]:
    lines = [orjson.dumps({"timestamp": T0 + i * step_ms, "type": "training_stats_scalar", "task": task,
                           "iter": i, "metric": f"metric{m}", "variant": "value",
                           "value": float(i % 97 - 48)})
             for i in range(points) for m in range(series)]
    return [b"\n".join(lines[k:k + size]) for k in range(0, len(lines), size)]


def chunks(url: str) -> int:
    with psycopg.connect(libpq_dsn(url)) as conn:
        return conn.execute("SELECT count(*) FROM timescaledb_information.chunks "
                            "WHERE hypertable_name = 'scalar_events'").fetchone()[0]


def analyze(url: str) -> None:
    """Statistics and visibility map up to date, so that neither measurement pays for the ingestion."""
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20_000, help="iterations per series of task A")
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--weeks", type=int, default=52, help="weeks (chunks) spanned by task B")
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--tree", type=Path, default=ROOT,
                        help="serve the code of this checkout (e.g. a git worktree of an older revision); "
                             "the databases are migrated by this one")
    port = os.environ.get("EVENTS_PG_PORT", "55432")
    parser.add_argument("--database-url", default=os.environ.get(
        "EVENTS_BENCH_CHUNKS_DATABASE_URL",
        f"postgresql+psycopg://postgres@127.0.0.1:{port}/events_bench_chunks"))
    args = parser.parse_args()
    url = args.database_url
    one = make_url(url)
    one = one.set(database=f"{one.database}_one").render_as_string(hide_password=False)
    task_a, task_b = "chunks-a", "chunks-b"
    with gunicorn(one, workers=2, tree=args.tree) as (base_one, _), \
            gunicorn(url, workers=2, tree=args.tree) as (base_many, _), \
            requests.Session() as http:
        bases = {"before": (base_one, login(base_one, fresh_database(one))),
                 "after": (base_many, login(base_many, fresh_database(url)))}

        def post(side: str, name: str, data: bytes, content_type: str = "application/json") -> bytes:
            base, headers = bases[side]
            r = http.post(f"{base}/v2.1/{name}", data=data, headers={**headers, "Content-Type": content_type})
            r.raise_for_status()
            return r.content

        def ingest(side: str, task: str, points: int, step_ms: int) -> None:
            for body in bodies(task, args.series, points, step_ms):
                post(side, "events.add_batch", body, "application/json-lines")

        def page_series(side: str) -> None:
            scroll, seen = None, 0
            while True:
                body = {"task": task_a, "metric": "metric0", "batch_size": 10000, "scroll_id": scroll}
                data = orjson.loads(post(side, "events.get_scalar_metric_data", orjson.dumps(body)))["data"]
                seen += data["returned"]
                scroll = data["scroll_id"]
                if seen >= data["total"] or not data["returned"]:
                    return

        calls = {
            "get_task_latest_scalar_values": lambda side: post(side, "events.get_task_latest_scalar_values",
                                                               orjson.dumps({"task": task_a})),
            "scalar_metrics_iter_histogram samples=1000": lambda side: post(
                side, "events.scalar_metrics_iter_histogram",
                orjson.dumps({"task": task_a, "samples": 1000})),
            "histogram key=timestamp samples=1000": lambda side: post(
                side, "events.scalar_metrics_iter_histogram",
                orjson.dumps({"task": task_a, "samples": 1000, "key": "timestamp"})),
            f"get_scalar_metric_data, one whole series ({args.points:,})": page_series,
            "get_task_events, first page of 500": lambda side: post(
                side, "events.get_task_events", orjson.dumps({"task": task_a, "batch_size": 500})),
        }
        for side in bases:
            ingest(side, task_a, args.points, 10)
        ingest("after", task_b, args.weeks, WEEK_MS)
        analyze(one)
        analyze(url)
        chunks_before, chunks_after = chunks(one), chunks(url)
        before, after = {}, {}
        for name, fn in calls.items():
            medians = in_turn({side: (lambda side=side: fn(side)) for side in bases}, args.repeat)
            before[name], after[name] = medians["before"], medians["after"]
    print(f"task A: {args.series} series x {args.points:,} points, all in one chunk; "
          f"scalar_events chunks {chunks_before} -> {chunks_after}")
    for name in calls:
        print(f"{name:48s} {before[name]:8.1f} ms -> {after[name]:8.1f} ms  "
              f"({after[name] / before[name]:.1f}x)")


if __name__ == "__main__":
    main()
