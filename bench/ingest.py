"""bench/ingest.py: HTTP ingestion through a real gunicorn against a plain COPY of the same rows.

N scalar events (default 1,000,000 = 10 metrics x 100,000 iterations, one task per run) are
posted as events.add_batch requests of 1,000 json-lines events (what the clearml SDK sends),
by one writer and by four; then the same rows are COPYed straight into scalar_events in one
transaction. Prints events/s of each and the HTTP/COPY ratio. Request bodies are built before
the clock starts; each run uses a fresh task, and the database is recreated first.

    .venv/bin/python bench/ingest.py [--events 1000000] [--batch 1000] [--workers 4]
"""
from __future__ import annotations

import argparse
import threading
import time
import uuid

import orjson
import psycopg
import requests

from common import bench_database_url, fresh_database, gunicorn, libpq_dsn, login

METRICS = 10


def make_batches(task: str, events: int, batch: int, writers: int) -> list[list[bytes]]:
    """Per group of series, its batches. One writer: one group, iteration-major (all metrics of
    iteration i, then i+1, as a training loop reports). Several: one group per series."""
    iterations = events // METRICS
    groups: list[list[bytes]] = [[] for _ in range(1 if writers == 1 else METRICS)]
    for i in range(iterations):
        for m in range(METRICS):
            groups[0 if writers == 1 else m].append(orjson.dumps({
                "timestamp": 1_790_000_000_000 + i * 10, "type": "training_stats_scalar", "task": task,
                "iter": i, "metric": f"metric{m}", "variant": "value", "value": i * 0.001 + m,
                "method": "get"}))
    return [[b"\n".join(lines[k:k + batch]) for k in range(0, len(lines), batch)] for lines in groups]


def post_all(base: str, batches: list[list[bytes]], writers: int, auth: dict[str, str]) -> float:
    """Send the batches with `writers` threads; seconds. `batches[s]` are series s's batches in
    iteration order, and writer w sends the series w, w+writers, ...: several processes of one
    training job report different metrics, each in order (a series written by two writers at
    once would make every batch a possible re-send to check)."""
    failures = []

    def writer(index: int) -> None:
        with requests.Session() as http:
            http.headers.update(auth)
            for body in [b for series in batches[index::writers] for b in series]:
                r = http.get(f"{base}/v2.9/events.add_batch", data=body,
                             headers={"Content-Type": "application/json-lines"})
                if r.status_code != 200 or r.json()["data"]["errors"]:
                    failures.append(r.text[:300])

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise SystemExit(f"{len(failures)} batches failed, first: {failures[0]}")
    return elapsed


def copy_rows(url: str, events: int) -> float:
    """The same rows, COPYed straight into scalar_events for a fresh task and series; seconds."""
    task = uuid.uuid4().hex
    with psycopg.connect(libpq_dsn(url)) as conn:
        ck = conn.execute("INSERT INTO companies (id) VALUES ('bench-copy') ON CONFLICT (id) DO UPDATE "
                          "SET name = companies.name RETURNING key").fetchone()[0]
        tk = conn.execute("INSERT INTO tasks (company_key, id, name) VALUES (%s, %s, %s) RETURNING key",
                          (ck, task, task)).fetchone()[0]
        series = [conn.execute("INSERT INTO series (company_key, task_key, event_type, metric, variant) "
                               "VALUES (%s, %s, 'training_stats_scalar', %s, 'value') RETURNING key",
                               (ck, tk, f"metric{m}")).fetchone()[0] for m in range(METRICS)]
        conn.commit()
        received = int(time.time() * 1000)
        rows = [(ck, tk, series[m], 1_790_000_000_000 + i * 10, i, "<unknown>", received, i * 0.001 + m, None)
                for i in range(events // METRICS) for m in range(METRICS)]
        start = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY scalar_events (company_key, task_key, series_key, "
                                            "ts, iter, worker, received, value, extra) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--writers", default="1,4", help="comma-separated writer counts")
    args = parser.parse_args()
    url = bench_database_url()
    credentials = fresh_database(url)
    print(f"{args.events:,} scalar events, {METRICS} series, add_batch of {args.batch} json-lines events, "
          f"gunicorn --workers {args.workers}")
    results = {}
    with gunicorn(url, workers=args.workers) as (base, _):
        auth = login(base, credentials)
        for writers in (int(w) for w in args.writers.split(",")):
            batches = make_batches(uuid.uuid4().hex, args.events, args.batch, writers)
            seconds = post_all(base, batches, writers, auth)
            results[writers] = args.events / seconds
            print(f"HTTP add_batch, {writers} writer(s): {seconds:7.2f} s  "
                  f"{results[writers]:>10,.0f} events/s")
    seconds = copy_rows(url, args.events)
    copy_rate = args.events / seconds
    print(f"COPY of the same rows:      {seconds:7.2f} s  {copy_rate:>10,.0f} events/s")
    for writers, rate in results.items():
        print(f"ratio HTTP ({writers} writer(s)) / COPY: {rate / copy_rate:.0%}")


if __name__ == "__main__":
    main()
