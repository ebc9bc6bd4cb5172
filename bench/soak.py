"""bench/soak.py: 8 writers and 4 readers against a real gunicorn for a bounded time.

Writers send events.add_batch (scalars and log lines, 500 events a batch) for their own task,
re-sending a batch until it is acknowledged (as the SDK does). Readers ask for
scalar_metrics_iter_histogram and get_task_log of random writer tasks. At the end every
acknowledged event must be stored exactly once (checked through get_task_events totals).
Prints throughput and p50/p99 latency per endpoint. Loopback only; stops by itself.

    .venv/bin/python bench/soak.py [--seconds 120] [--writers 8] [--readers 4] [--workers 4]
"""
from __future__ import annotations

import argparse
import random
import statistics
import threading
import time
import uuid
from collections import defaultdict

import orjson
import requests

from common import bench_database_url, fresh_database, gunicorn, login

BATCH = 500


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    args = parser.parse_args()
    url = bench_database_url()
    credentials = fresh_database(url)
    auth: dict[str, str] = {}
    tasks = [uuid.uuid4().hex for _ in range(args.writers)]
    acknowledged = [0] * args.writers
    latencies: dict[str, list[float]] = defaultdict(list)
    failures: dict[str, int] = defaultdict(int)
    lock = threading.Lock()
    stop_at = time.time() + args.seconds

    def timed(http: requests.Session, name: str, method: str, path: str, **kw) -> requests.Response | None:
        start = time.perf_counter()
        try:
            response = http.request(method, path, timeout=60, **kw)
        except requests.RequestException:
            response = None
        with lock:
            if response is not None and response.status_code == 200:
                latencies[name].append((time.perf_counter() - start) * 1000)
            else:
                failures[name] += 1
        return response

    def writer(index: int, base: str) -> None:
        task, iteration = tasks[index], 0
        with requests.Session() as http:
            http.headers.update(auth)
            while time.time() < stop_at:
                lines = []
                for _ in range(BATCH // 10):
                    for m in range(8):
                        lines.append(orjson.dumps({"type": "training_stats_scalar", "task": task,
                                                   "iter": iteration, "metric": f"m{m}", "variant": "v",
                                                   "value": random.random()}))
                    for k in range(2):
                        lines.append(orjson.dumps({"type": "log", "task": task, "level": "info",
                                                   "msg": f"iteration {iteration} line {k}",
                                                   "timestamp": 1_790_000_000_000 + iteration * 10 + k}))
                    iteration += 1
                body = b"\n".join(lines)
                while True:  # re-send until acknowledged; bounded by the deadline plus one minute
                    response = timed(http, "events.add_batch", "GET", f"{base}/v2.9/events.add_batch",
                                     data=body, headers={"Content-Type": "application/json-lines"})
                    if response is not None and response.status_code == 200:
                        acknowledged[index] += len(lines)
                        break
                    if time.time() > stop_at + 60:
                        return
                    time.sleep(0.5)

    def reader(base: str) -> None:
        with requests.Session() as http:
            http.headers.update(auth)
            while time.time() < stop_at:
                task = random.choice(tasks)
                timed(http, "events.scalar_metrics_iter_histogram", "POST",
                      f"{base}/v2.9/events.scalar_metrics_iter_histogram",
                      json={"task": task, "samples": 1000})
                timed(http, "events.get_task_log", "POST", f"{base}/v2.9/events.get_task_log",
                      json={"task": task, "batch_size": 500, "order": "desc"})

    with gunicorn(url, workers=args.workers) as (base, _):
        auth.update(login(base, credentials))
        # writers first, so readers find tasks
        threads = [threading.Thread(target=writer, args=(i, base)) for i in range(args.writers)]
        for t in threads:
            t.start()
        time.sleep(1)
        threads += [threading.Thread(target=reader, args=(base,)) for _ in range(args.readers)]
        for t in threads[args.writers:]:
            t.start()
        for t in threads:
            t.join()
        stored = [requests.post(f"{base}/events.get_task_events", json={"task": t, "batch_size": 1},
                                headers=auth).json()
                  ["data"]["total"] for t in tasks]

    elapsed = args.seconds
    print(f"{args.writers} writers, {args.readers} readers, {args.seconds:.0f} s, "
          f"gunicorn --workers {args.workers}")
    print(f"acknowledged events: {sum(acknowledged):,} ({sum(acknowledged) / elapsed:,.0f}/s); "
          f"stored: {sum(stored):,}; exactly once: {stored == acknowledged}")
    for name in sorted(set(latencies) | set(failures)):
        values = latencies.get(name) or [float("nan")]
        print(f"{name:40s} {len(latencies.get(name, [])) / elapsed:7.1f} req/s  "
              f"p50 {statistics.median(values):7.1f} ms"
              f"  p99 {percentile(values, 0.99):7.1f} ms  failed {failures[name]}")
    if stored != acknowledged:
        raise SystemExit(f"MISMATCH: acknowledged {acknowledged} stored {stored}")


if __name__ == "__main__":
    main()
