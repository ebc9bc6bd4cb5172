"""bench/scaling.py: the figures behind docs/scaling.md, counted in CPU time so that they say what
one core does (and stay meaningful on a machine shared with other work).

Against a real gunicorn on a fresh bench database: W writers post --batches add_batch requests
each (1,000 events a batch: 8 scalar series and 2 log lines per iteration; by default 4 tasks of
10,000 iterations, 400,000 events); then each read endpoint is called by R readers for --seconds,
on random ones of these tasks. For every phase it reads the CPU time (user + system, from
/proc) of the gunicorn workers and of the PostgreSQL backends serving this database, before and
after, and prints requests or events per second of wall time and per CPU-second (= per core fully
used), with the split between the service and the database. Then the bytes on disk per stored
event (tables and indexes of each hypertable, and the whole database over all events).

The WAL written during ingestion (what a replica must replay and the disk must absorb) is read
from pg_current_wal_lsn(), cluster-wide. Not counted: PostgreSQL's background processes (WAL
writer, checkpointer, autovacuum), the client.

    .venv/bin/python bench/scaling.py [--batches 100] [--seconds 20] [--writers 4] [--readers 4]
                                      [--workers 2] [--through PGBOUNCER_URL]
"""
from __future__ import annotations

import argparse
import os
import random
import threading
import time
import uuid
from pathlib import Path

import orjson
import psycopg
import requests

from common import bench_database_url, fresh_database, gunicorn, libpq_dsn, login

TICK = os.sysconf("SC_CLK_TCK")
ITERATIONS_PER_BATCH = 100  # x (8 scalars + 2 log lines) = 1,000 events


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def worker_pids(master: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def backend_pids(url: str) -> list[int]:
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        return [r[0] for r in conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
            "AND backend_type = 'client backend' AND pid <> pg_backend_pid()")]


def wal_position(url: str) -> str:
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        return str(conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0])


def wal_bytes_since(url: str, start: str) -> float:
    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        return float(conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)",
                                  (start,)).fetchone()[0])


class CpuMeter:
    """CPU seconds spent by the gunicorn workers and by this database's backends over a phase."""

    def __init__(self, master: int, url: str):
        self.master, self.url = master, url

    def __enter__(self) -> "CpuMeter":
        self.app0 = {p: cpu_seconds(p) for p in worker_pids(self.master)}
        self.db0 = {p: cpu_seconds(p) for p in backend_pids(self.url)}
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, *_exc) -> None:
        self.wall = time.perf_counter() - self.wall0
        self.app = sum(cpu_seconds(p) - self.app0.get(p, 0.0) for p in worker_pids(self.master))
        self.db = sum(cpu_seconds(p) - self.db0.get(p, 0.0) for p in backend_pids(self.url))


def run_threads(count: int, seconds: float, body) -> None:
    stop_at = time.time() + seconds
    threads = [threading.Thread(target=body, args=(i, stop_at)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def report(name: str, done: float, unit: str, meter: CpuMeter) -> None:
    cpu = meter.app + meter.db
    print(f"{name:42s} {done / meter.wall:9,.0f} {unit}/s wall   {done / cpu:9,.0f} {unit}/CPU-s "
          f"(service {done / meter.app:9,.0f}, database {done / meter.db:9,.0f})   CPU {cpu:6.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20, help="length of each read phase")
    parser.add_argument("--batches", type=int, default=100, help="add_batch requests per writer")
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--through", metavar="URL", help="the service's database URL: a PgBouncer in "
                        "transaction mode in front of the bench database (EVENTS_TRANSACTION_POOLING on; "
                        "PgBouncer's own CPU is not counted)")
    args = parser.parse_args()
    url = bench_database_url()
    credentials = fresh_database(url)
    tasks = [uuid.uuid4().hex for _ in range(args.writers)]
    acknowledged = [0] * args.writers

    served_through = args.through or url
    pooling = {"EVENTS_TRANSACTION_POOLING": "true"} if args.through else {}
    with gunicorn(served_through, workers=args.workers, **pooling) as (base, proc):
        auth = login(base, credentials)

        def writer(index: int, _stop_at: float) -> None:
            iteration = 0
            with requests.Session() as http:
                http.headers.update(auth)
                for _ in range(args.batches):
                    lines = []
                    for _ in range(ITERATIONS_PER_BATCH):
                        lines += [orjson.dumps({"type": "training_stats_scalar", "task": tasks[index],
                                                "iter": iteration, "metric": f"m{m}", "variant": "v",
                                                "value": random.random()}) for m in range(8)]
                        lines += [orjson.dumps({"type": "log", "task": tasks[index], "level": "info",
                                                "msg": f"iteration {iteration} line {k}: loss went down",
                                                "timestamp": 1_790_000_000_000 + iteration * 10 + k})
                                  for k in range(2)]
                        iteration += 1
                    response = http.get(f"{base}/v2.9/events.add_batch", data=b"\n".join(lines),
                                        timeout=120, headers={"Content-Type": "application/json-lines"})
                    if response.status_code == 200:
                        acknowledged[index] += len(lines)

        print(f"gunicorn --workers {args.workers}, {args.writers} writers x {args.batches} batches, "
              f"{args.readers} readers x {args.seconds:.0f} s a read phase; {os.cpu_count()} cores here")
        wal0 = wal_position(url)
        with CpuMeter(proc.pid, url) as meter:
            run_threads(args.writers, args.seconds, writer)
        wal = wal_bytes_since(url, wal0)
        report("ingest (add_batch of 1,000 events)", sum(acknowledged), "events", meter)
        print(f"{'':42s} WAL {wal / sum(acknowledged):,.0f} bytes/event (the whole cluster's WAL: "
              "an upper bound where other databases are written meanwhile)")

        reads = {
            "get_task_events (page of 500)": ("events.get_task_events", {"batch_size": 500}),
            "get_task_log (page of 500)": ("events.get_task_log", {"batch_size": 500}),
            "scalar_metrics_iter_histogram (1000)": ("events.scalar_metrics_iter_histogram",
                                                     {"samples": 1000}),
            "get_task_latest_scalar_values": ("events.get_task_latest_scalar_values", {}),
            "get_scalar_metric_data (page of 500)": ("events.get_scalar_metric_data",
                                                     {"metric": "m0", "batch_size": 500}),
        }
        for name, (endpoint, extra) in reads.items():
            served = [0] * args.readers

            def reader(index: int, stop_at: float) -> None:
                with requests.Session() as http:
                    http.headers.update(auth)
                    while time.time() < stop_at:
                        response = http.post(f"{base}/v2.9/{endpoint}", timeout=120,
                                             json={"task": random.choice(tasks), **extra})
                        served[index] += response.status_code == 200

            with CpuMeter(proc.pid, url) as meter:
                run_threads(args.readers, args.seconds, reader)
            report(name, sum(served), "req", meter)

    with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        total_events = 0
        for table in ("scalar_events", "log_events"):
            rows = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            size = conn.execute(f"SELECT hypertable_size('{table}')").fetchone()[0] or 0
            total_events += rows
            print(f"{table:20s} {rows:12,} rows {size / 2**20:9.1f} MiB  "
                  f"{size / max(rows, 1):6.0f} bytes/event (table, indexes, TOAST)")
        database = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        print(f"{'whole database':20s} {total_events:12,} events {database / 2**20:7.1f} MiB  "
              f"{database / max(total_events, 1):6.0f} bytes/event (with series, pre-aggregates, catalogs)")


if __name__ == "__main__":
    main()
