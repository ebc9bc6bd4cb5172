"""bench/compacted.py: reads of a finished task in the compact form (migration 0008) against the same
task as rows, through a real gunicorn, the two called in turn.

Two tasks get the same scalars over HTTP (SERIES x POINTS, as bench/queries.py writes them); one is
compacted (`events-service compact --task --whole`), the other stays rows. Each read is then timed on both
in turn, --repeat rounds (bench/queries.paired_ms): the ratio compact/rows is the median of the
rounds' ratios, so the machine's drift hits both sides alike. (That a task answers the same before
and after compaction is tests/test_compaction.py's job: here the two tasks' ids and times differ.)

    .venv/bin/python bench/compacted.py [--points 20000] [--series 10] [--repeat 5]
  Database: --database-url, else $EVENTS_BENCH_DATABASE_URL, else events_bench on the local cluster;
  dropped and re-created.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import orjson
import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import queries  # noqa: E402
from common import fresh_database, gunicorn, libpq_dsn, login  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url")
    args = parser.parse_args()
    url = queries.database_url(args.database_url)
    queries.CREDENTIALS[:] = fresh_database(url)
    tasks = {"rows": "bench-rows", "compact": "bench-compact"}
    with gunicorn(url, workers=2) as (base, _):
        for task in tasks.values():
            queries.ingest(base, queries.batches(task, args.series, args.points))
        with requests.Session() as http:  # a finished task: compaction also drops its width-10 buckets
            http.headers.update(login(base, tuple(queries.CREDENTIALS)))
            http.post(f"{base}/v2.1/tasks.completed", headers={"Content-Type": "application/json"},
                      data=orjson.dumps({"task": tasks["compact"], "force": True})).raise_for_status()
    out = subprocess.run([str(Path(sys.executable).with_name("events-service")), "--database-url", url,
                          "compact", "--task", tasks["compact"], "--whole"],  # a running task: wholly
                         check=True, capture_output=True, text=True)
    print(out.stdout.strip().splitlines()[-1])
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")  # as autovacuum would, after the compacted rows were deleted
    with gunicorn(url, workers=2) as (base, _), requests.Session() as http:
        http.headers.update(login(base, tuple(queries.CREDENTIALS)))

        def call(name: str, **body) -> bytes:
            r = http.post(f"{base}/v2.1/{name}", data=orjson.dumps(body),
                          headers={"Content-Type": "application/json"})
            r.raise_for_status()
            return r.content

        def scroll(name: str, batch: int, **body):
            def run(task: str) -> int:
                seen, scroll_id = 0, None
                while True:  # as a client scrolls: until it has `total` events
                    data = orjson.loads(call(name, task=task, batch_size=batch, **body,
                                             **({"scroll_id": scroll_id} if scroll_id else {})))["data"]
                    seen += len(data["events"])
                    scroll_id = data["scroll_id"]
                    if not data["events"] or seen >= data["total"]:
                        return seen
            return run

        reads = {
            "get_scalar_metric_data, one whole series (batch_size 10000)":
                scroll("events.get_scalar_metric_data", 10000, metric="metric0"),
            "get_scalar_metric_data, one whole series (batch_size 500)":
                scroll("events.get_scalar_metric_data", 500, metric="metric0"),
            "get_task_latest_scalar_values": lambda t: call("events.get_task_latest_scalar_values", task=t),
            "get_task_events, first page of 500":
                lambda t: call("events.get_task_events", task=t, batch_size=500),
            "get_task_events, a whole task (batch_size 10000)": scroll("events.get_task_events", 10000),
            "scalar_metrics_iter_histogram samples=1000":
                lambda t: call("events.scalar_metrics_iter_histogram", task=t, samples=1000),
            "scalar_metrics_iter_histogram samples=10000":
                lambda t: call("events.scalar_metrics_iter_histogram", task=t, samples=10000),
            "scalar_metrics_iter_histogram by timestamp":
                lambda t: call("events.scalar_metrics_iter_histogram", task=t, key="timestamp"),
        }
        for name, read in reads.items():
            rows_ms, compact_ms, ratio = queries.paired_ms(lambda: read(tasks["rows"]),
                                                           lambda: read(tasks["compact"]), args.repeat)
            print(f"{name:62s} rows {rows_ms:8.1f} ms  compact {compact_ms:8.1f} ms  ({ratio:.2f}x)")


if __name__ == "__main__":
    main()
