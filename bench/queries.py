"""bench/queries.py: scalar analytics through a real gunicorn, against plain SQL over the same points.

Data: one task with SERIES scalar series (metric0..metric9, variant "value") x POINTS iterations
(default 10 x 100,000 = 1,000,000 points), values with negatives and zeros. It is ingested over
HTTP (events.add_batch, 1,000 json-lines events a request, one writer: what the clearml SDK
sends) into a real gunicorn - the real code path, pre-aggregates included. The same number of
points is first ingested into a throw-away task by a gunicorn whose pre-aggregate maintenance is
switched off (bench/_noagg_wsgi.py, bench only), so the cost of keeping the pre-aggregates shows
as "ingest rate without / with pre-aggregates"; that task is deleted before measuring.

Figures (median of --repeat runs, client time = request sent to response body read):
  * scalar_metrics_iter_histogram samples=1000 vs the scan lower bound (one SQL aggregate that
    reads every point of the task, no rows transferred);
  * samples=10000, with its split: database + row decoding vs JSON encoding (measured in-process
    on the same handler), the rest being HTTP/WSGI;
  * get_task_latest_scalar_values;
  * get_scalar_metric_data paging through one whole series (batch_size 10000, the client stops
    when it has `total` events and decodes every page) vs a plain SQL fetch of that series' rows
    into Python, the two run in turn (paired_ms).

    .venv/bin/python bench/queries.py                     # 10 x 100,000 points
    .venv/bin/python bench/queries.py --points 2000       # small scale
    .venv/bin/python bench/queries.py --compact           # every read on the task compacted
  With --compact the task is compacted after ingestion (`events-service compact --task --whole`, migration
  0008's blocks) and the SQL baselines (the scan, the series fetch) read the blocks as the service
  does, through db/queries/compact.rows().
  Database: --database-url, else $EVENTS_BENCH_DATABASE_URL, else events_bench on the local
  cluster (port $EVENTS_PG_PORT, default 55432). The database is dropped and re-created.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

import orjson
import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import fresh_database, gunicorn, libpq_dsn, login, median_ms  # noqa: E402
from sqlalchemy import create_engine  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from events_service import config as app_config  # noqa: E402
from events_service.api.call import Call  # noqa: E402
from events_service.db.queries import compact, timerange  # noqa: E402
from events_service.services import scalars as scalar_handlers  # noqa: E402

SECRET = "bench-secret"
T0 = 1_790_000_000_000


CREDENTIALS: list[str] = []  # (access key, secret key) of the bench database


def database_url(arg: str | None) -> str:
    return arg or os.environ.get("EVENTS_BENCH_DATABASE_URL") or \
        f"postgresql+psycopg://postgres@127.0.0.1:{os.environ.get('EVENTS_PG_PORT', '55432')}/events_bench"


def dsn(url: str, database: str | None = None) -> str:
    return libpq_dsn(url, database)


def batches(task: str, series: int, points: int, size: int = 1000) -> list[bytes]:
    """Iteration-major json-lines bodies (all series of iteration i, then i+1), as training reports."""
    lines = [orjson.dumps({"timestamp": T0 + i * 10, "type": "training_stats_scalar", "task": task, "iter": i,
                           "metric": f"metric{m}", "variant": "value",
                           "value": ((i * 7 + m) % 2001 - 1000) / 8})
             for i in range(points) for m in range(series)]
    return [b"\n".join(lines[k:k + size]) for k in range(0, len(lines), size)]


def ingest(base: str, bodies: list[bytes]) -> float:
    """Post every body with one writer; events per second."""
    events = sum(body.count(b"\n") + 1 for body in bodies)
    with requests.Session() as http:
        http.headers.update(login(base, tuple(CREDENTIALS)))
        start = time.perf_counter()
        for body in bodies:
            r = http.post(f"{base}/v2.1/events.add_batch", data=body,
                          headers={"Content-Type": "application/json-lines"})
            if r.status_code != 200 or r.json()["data"]["errors"]:
                raise SystemExit(f"add_batch failed: {r.text[:300]}")
        return events / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=100_000, help="iterations per series")
    parser.add_argument("--series", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--database-url")
    parser.add_argument("--compact", action="store_true", help="compact the task before the reads")
    args = parser.parse_args()
    url = database_url(args.database_url)
    total = args.points * args.series
    print(f"database {make_url(url).database}: "
          f"{args.series} series x {args.points:,} iterations = {total:,} points")
    CREDENTIALS[:] = fresh_database(url)

    throwaway, task = f"noagg-{uuid.uuid4().hex}", f"bench-{uuid.uuid4().hex}"
    with gunicorn(url, workers=2, app="_noagg_wsgi:app") as (base, _):
        rate_without = ingest(base, batches(throwaway, args.series, args.points))
    with psycopg.connect(dsn(url), autocommit=True) as conn:  # what delete_for_task does
        with conn.transaction():
            conn.execute("DELETE FROM scalar_events WHERE task_key = (SELECT key FROM tasks WHERE id = %s)",
                         (throwaway,))
            conn.execute("DELETE FROM tasks WHERE id = %s", (throwaway,))
        conn.execute("VACUUM ANALYZE")  # the measured run should not pay for the throw-away task's dead rows
    with gunicorn(url, workers=2) as (base, _):
        rate_with = ingest(base, batches(task, args.series, args.points))
    print(f"ingest over HTTP (add_batch, 1000 events/request, 1 writer): "
          f"{rate_without:,.0f} events/s without pre-aggregates, {rate_with:,.0f} events/s with "
          f"({(1 - rate_with / rate_without) * 100:+.0f}% cost)")

    if args.compact:
        out = subprocess.run([str(Path(sys.executable).with_name("events-service")), "--database-url", url,
                              "compact", "--task", task, "--whole"],
                             check=True, capture_output=True, text=True)
        print(next(line for line in out.stdout.splitlines() if " points of " in line))
    with psycopg.connect(dsn(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        conn.execute("CHECKPOINT")  # the writes of the ingestion flushed now, not while measuring
        task_key = conn.execute("SELECT key FROM tasks WHERE id = %s", (task,)).fetchone()[0]
        series_key = conn.execute("SELECT key FROM series WHERE task_key = %s AND metric = 'metric0'",
                                  (task_key,)).fetchone()[0]
        buckets = conn.execute("SELECT count(*) FROM scalar_buckets").fetchone()[0]
        print(f"pre-aggregate rows: {buckets:,} ({buckets / total:.3f} per point)")

        def scan():
            conn.execute(f"SELECT series_key, count(*), avg(value), min(value), max(value) "
                         f"FROM {points(args.compact, 'task_key = %(k)s')} e GROUP BY series_key",
                         {"k": task_key}).fetchall()

        scan_ms = median_ms(scan, args.repeat)

    with gunicorn(url, workers=2) as (base, _), requests.Session() as http, \
            psycopg.connect(dsn(url), autocommit=True) as conn:
        http.headers.update(login(base, tuple(CREDENTIALS)))

        def fetch_series():
            conn.execute(f"SELECT ts, id, iter, worker, received, series_key, extra, value "
                         f"FROM {points(args.compact, 'series_key = %(k)s')} e ORDER BY iter DESC",
                         {"k": series_key}).fetchall()

        def call(name, **body):
            r = http.post(f"{base}/v2.1/{name}", data=orjson.dumps(body),
                          headers={"Content-Type": "application/json"})
            r.raise_for_status()
            return r.content

        def hist(samples):
            return lambda: call("events.scalar_metrics_iter_histogram", task=task, samples=samples)

        def page_series():
            scroll, seen = None, 0
            while True:
                body = {"task": task, "metric": "metric0", "batch_size": 10000}
                if scroll:
                    body["scroll_id"] = scroll
                data = orjson.loads(call("events.get_scalar_metric_data", **body))["data"]
                seen += data["returned"]
                scroll = data["scroll_id"]
                if seen >= data["total"] or not data["returned"]:  # a client stops at `total`
                    assert seen == args.points, seen
                    return

        points_1000 = sum(len(v["value"]["x"]) for v in orjson.loads(hist(1000)())["data"].values())
        h1000 = median_ms(hist(1000), args.repeat)
        h10000 = median_ms(hist(10000), args.repeat)
        latest = median_ms(lambda: call("events.get_task_latest_scalar_values", task=task), args.repeat)
        fetch_ms, paging, ratio = paired_ms(fetch_series, page_series, args.repeat)

    db_ms, json_ms = split_db_json(url, task, 10000, args.repeat)
    print(f"scan lower bound (SQL aggregate over every point of the task): {scan_ms:8.1f} ms")
    print(f"scalar_metrics_iter_histogram samples=1000  ({points_1000:,} points): {h1000:8.1f} ms  "
          f"({scan_ms / h1000:.1f}x faster than the scan)")
    print(f"scalar_metrics_iter_histogram samples=10000:                  {h10000:8.1f} ms  "
          f"(in-process: database + rows {db_ms:.1f} ms, JSON encoding {json_ms:.1f} ms, "
          f"rest HTTP/WSGI/client)")
    print(f"get_task_latest_scalar_values:                                {latest:8.1f} ms")
    print(f"get_scalar_metric_data, one whole series (batch_size 10000):  {paging:8.1f} ms  "
          f"vs plain SQL fetch of the series {fetch_ms:.1f} ms ({ratio:.2f}x, median of the paired ratios)")


def points(compacted: bool, where: str) -> str:
    """The scalar events matching `where` as plain SQL reads them: the rows, or both forms."""
    if compacted:
        return compact.rows(where, timerange.Span(None, None))
    return f"(SELECT * FROM scalar_events WHERE {where})"


def paired_ms(baseline, measured, repeat: int) -> tuple[float, float, float]:
    """(baseline ms, measured ms, measured/baseline): medians over `repeat` rounds that run one of each.

    The ratio is the median of the rounds' ratios: on a shared machine the speed drifts from minute to
    minute, and timing the two far apart measured the drift as much as the code."""
    baseline(), measured()  # warm-up: connections, plans, caches
    pairs = []
    for _ in range(repeat):
        start = time.perf_counter()
        baseline()
        middle = time.perf_counter()
        measured()
        pairs.append(((middle - start) * 1000, (time.perf_counter() - middle) * 1000))
    return (statistics.median(a for a, _ in pairs), statistics.median(b for _, b in pairs),
            statistics.median(b / a for a, b in pairs))


def split_db_json(url: str, task: str, samples: int, repeat: int) -> tuple[float, float]:
    """The histogram handler in-process on a plain session: (handler ms, orjson ms), medians."""
    config = app_config.load({"DATABASE_URL": url, "SECRET_KEY": SECRET})
    engine = create_engine(url)
    with Session(bind=engine) as session:
        company_key = session.connection().exec_driver_sql("SELECT key FROM companies LIMIT 1").scalar_one()
        call = Call(id="bench", trx="bench", name="events.scalar_metrics_iter_histogram", config=config,
                    session=session, company_key=company_key)
        request = {"task": task, "samples": samples}
        result = scalar_handlers.scalar_metrics_iter_histogram(call, request)
        db_ms = median_ms(lambda: scalar_handlers.scalar_metrics_iter_histogram(call, request), repeat)
        json_ms = median_ms(lambda: orjson.dumps({"meta": {}, "data": result}), repeat)
    engine.dispose()
    return db_ms, json_ms


if __name__ == "__main__":
    main()
