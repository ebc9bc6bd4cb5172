"""bench/soak.py: 8 writers and 4 readers against a real gunicorn for a bounded time.

Writers send events.add_batch (scalars and log lines, 500 events a batch) for their own task,
re-sending a batch until it is acknowledged (as the SDK does). Readers ask for
scalar_metrics_iter_histogram and get_task_log of random writer tasks. At the end every
acknowledged event must be stored exactly once (checked through get_task_events totals).
Prints throughput and p50/p99 latency per endpoint. Loopback only; stops by itself.

`--hosts N` starts N gunicorns (each with --workers) on one database, with one shared secret, as
several API hosts behind a load balancer: every writer and reader sends its requests to them in
turn (a re-sent batch goes to the next one). Meanwhile a prober asks every host for /health,
/ready and /metrics: they must answer 200 with the same body (health, ready) all along, and
/metrics must not name any task.

    .venv/bin/python bench/soak.py [--seconds 120] [--writers 8] [--readers 4] [--workers 4] [--hosts 1]
"""
from __future__ import annotations

import argparse
import itertools
import random
import statistics
import threading
import time
import uuid
from collections import defaultdict
from contextlib import ExitStack

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
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (per host)")
    parser.add_argument("--hosts", type=int, default=1, help="gunicorn instances on the one database")
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

    def writer(index: int, bases: list[str]) -> None:
        task, iteration = tasks[index], 0
        turn = itertools.cycle(bases[index % len(bases):] + bases[:index % len(bases)])
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
                    response = timed(http, "events.add_batch", "GET", f"{next(turn)}/v2.9/events.add_batch",
                                     data=body, headers={"Content-Type": "application/json-lines"})
                    if response is not None and response.status_code == 200:
                        acknowledged[index] += len(lines)
                        break
                    if time.time() > stop_at + 60:
                        return
                    time.sleep(0.5)

    def reader(bases: list[str]) -> None:
        turn = itertools.cycle(bases)
        with requests.Session() as http:
            http.headers.update(auth)
            while time.time() < stop_at:
                task = random.choice(tasks)
                timed(http, "events.scalar_metrics_iter_histogram", "POST",
                      f"{next(turn)}/v2.9/events.scalar_metrics_iter_histogram",
                      json={"task": task, "samples": 1000})
                timed(http, "events.get_task_log", "POST", f"{next(turn)}/v2.9/events.get_task_log",
                      json={"task": task, "batch_size": 500, "order": "desc"})

    probe_faults: list[str] = []

    def prober(bases: list[str]) -> None:
        """/health, /ready and /metrics of every host, once a second, until the end."""
        expected = {"/health": b'{"status":"ok"}', "/ready": b'{"status":"ready"}'}
        while time.time() < stop_at:
            for base in bases:
                for path in ("/health", "/ready", "/metrics"):
                    response = timed(requests, path, "GET", f"{base}{path}")
                    if response is None or response.status_code != 200:
                        probe_faults.append(f"{base}{path}: {response and response.status_code}")
                    elif path in expected and response.content != expected[path]:
                        probe_faults.append(f"{base}{path}: {response.content[:200]!r}")
                    elif path == "/metrics" and any(t in response.text for t in tasks):
                        probe_faults.append(f"{base}{path} names a task")
            time.sleep(1)

    with ExitStack() as hosts:
        bases = [hosts.enter_context(gunicorn(url, workers=args.workers))[0] for _ in range(args.hosts)]
        base = bases[-1]  # logs in on one host; the token is good on every one (shared secret)
        auth.update(login(bases[0], credentials))
        stop_at = time.time() + args.seconds  # from now: starting the hosts took a while
        # writers first, so readers find tasks
        threads = [threading.Thread(target=writer, args=(i, bases)) for i in range(args.writers)]
        for t in threads:
            t.start()
        time.sleep(1)
        threads += [threading.Thread(target=reader, args=(bases,)) for _ in range(args.readers)]
        threads.append(threading.Thread(target=prober, args=(bases,)))
        for t in threads[args.writers:]:
            t.start()
        for t in threads:
            t.join()
        # a task no batch was acknowledged for does not exist (400/101): nothing stored
        stored = [requests.post(f"{base}/events.get_task_events", json={"task": t, "batch_size": 1},
                                headers=auth).json()["data"].get("total", 0) for t in tasks]

    elapsed = args.seconds
    print(f"{args.writers} writers, {args.readers} readers, {args.seconds:.0f} s, "
          f"{args.hosts} x gunicorn --workers {args.workers}")
    print(f"acknowledged events: {sum(acknowledged):,} ({sum(acknowledged) / elapsed:,.0f}/s); "
          f"stored: {sum(stored):,}; exactly once: {stored == acknowledged}")
    for name in sorted(set(latencies) | set(failures)):
        values = latencies.get(name) or [float("nan")]
        print(f"{name:40s} {len(latencies.get(name, [])) / elapsed:7.1f} req/s  "
              f"p50 {statistics.median(values):7.1f} ms"
              f"  p99 {percentile(values, 0.99):7.1f} ms  failed {failures[name]}")
    print(f"/health, /ready, /metrics probes: {len(probe_faults)} faults {probe_faults[:5]}")
    if stored != acknowledged:
        raise SystemExit(f"MISMATCH: acknowledged {acknowledged} stored {stored}")
    if probe_faults:
        raise SystemExit("the operations endpoints did not answer the same under load")


if __name__ == "__main__":
    main()
