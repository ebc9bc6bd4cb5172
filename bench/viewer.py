"""The viewer's data calls at scale, through a real gunicorn, as the pages make them.

    .venv/bin/python bench/viewer.py                                  # 10 x 100,000 points, 1,000,000 lines
    .venv/bin/python bench/viewer.py --points 10000 --lines 100000 --tasks 10000   # a quick run

Builds a fresh database (EVENTS_BENCH_DATABASE_URL or --database-url), one task whose metric
`loss` has 10 variants of --points points each (through events.add_batch, so the pre-aggregates are
maintained as in production; iteration i at time T0 + i * 100 ms), a log of --lines lines (bench/logs.py's
loader) and a project of --tasks tasks (SQL), starts gunicorn with one worker, signs in like a browser,
then prints the median (and max) wall time over --repeat calls of:
  * the Scalars tab's data call (all series, samples=1000), x by iteration and by time;
  * each zoom step of the chart (10 series in one call), the range narrowed 4x per step down to a
    few hundred points, x by iteration and by time;
  * the Console's first page (the newest 500 lines) and one page scrolled back from the middle;
  * the task list: first page and a page 90% down the keyset, sorted by name and by last update, and a
    name search.
Targets (issue 17): scalars < 1 s, zoom step < 200 ms, console first page < 100 ms.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid

import psycopg
import requests

import logs as log_bench
from common import bench_database_url, fresh_database, gunicorn, libpq_dsn, login

T0 = 1_700_000_000_000
STEP_MS = 100
VARIANTS = 10


def load_scalars(base: str, headers: dict[str, str], task: str, points: int) -> None:
    chunk = 50_000
    events = (json.dumps({"type": "training_stats_scalar", "task": task, "metric": "loss", "variant": f"v{v}",
                          "iter": i, "timestamp": T0 + i * STEP_MS,
                          "value": 1.0 / (i + 1) + v * 0.01 + (i % 7) * 1e-3})
              for i in range(points) for v in range(VARIANTS))
    batch: list[str] = []
    for line in events:
        batch.append(line)
        if len(batch) == chunk:
            _post(base, headers, batch)
            batch = []
    if batch:
        _post(base, headers, batch)


def _post(base: str, headers: dict[str, str], lines: list[str]) -> None:
    r = requests.post(f"{base}/events.add_batch", data="\n".join(lines).encode(), timeout=600,
                      headers={**headers, "Content-Type": "application/json-lines"})
    r.raise_for_status()


def load_tasks(url: str, project: str, count: int) -> None:
    """`count` tasks in the project by SQL (names in random order, varied updates)."""
    with psycopg.connect(libpq_dsn(url)) as conn:
        ck, pk = conn.execute("SELECT company_key, key FROM projects WHERE id = %s", (project,)).fetchone()
        conn.execute("""
            INSERT INTO tasks (company_key, project_key, id, name, status, last_iteration, last_update, tags)
            SELECT %(ck)s, %(pk)s, md5('task' || g), 'experiment ' || md5(g::text), 'completed', g %% 5000,
                   now() - (g || ' seconds')::interval, ARRAY['bench']
            FROM generate_series(1, %(n)s) g""", {"ck": ck, "pk": pk, "n": count})
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE tasks")


def timed(session: requests.Session, url: str, repeat: int) -> tuple[float, float, int]:
    """(median ms, max ms, response bytes) of `repeat` calls after one warm-up."""
    r = session.get(url, timeout=120)
    r.raise_for_status()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        r = session.get(url, timeout=120)
        times.append((time.perf_counter() - start) * 1000)
        r.raise_for_status()
    return statistics.median(times), max(times), len(r.content)


def show(label: str, figures: tuple[float, float, int], target: float | None = None) -> None:
    median, worst, size = figures
    verdict = "" if target is None else ("  ok" if median < target else f"  ABOVE the {target:.0f} ms target")
    print(f"  {label:<58} {median:8.1f} ms (max {worst:7.1f})  {size / 1024:8.1f} KiB{verdict}")


def zoom_steps(lo: int, hi: int, points_per_unit: float) -> list[tuple[int, int]]:
    """Ranges around the middle, each a quarter of the one before, until a few hundred points remain."""
    steps = []
    while True:
        steps.append((lo, hi))
        if (hi - lo) * points_per_unit < 400:
            return steps
        quarter = (hi - lo) // 8
        middle = (lo + hi) // 2
        lo, hi = middle - quarter, middle + quarter


def iteration_window(lines: dict, lo: int, hi: int) -> tuple[int, int]:
    """What static/viewer.js (iterationWindow) derives from the points it shows."""
    first, last = None, None
    for p in lines.values():
        a, b = p["it"][0], 2 ** 53 - 1
        for x, it in zip(p["x"], p["it"]):
            if x <= lo:
                a = it
            elif x > hi:
                b = it - 1
                break
        first = a if first is None else min(first, a)
        last = b if last is None else max(last, b)
    return first, last


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, default=100_000, help="points per series (10 series)")
    parser.add_argument("--lines", type=int, default=1_000_000, help="log lines")
    parser.add_argument("--tasks", type=int, default=100_000, help="tasks in the listed project")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database-url", default=bench_database_url())
    args = parser.parse_args()

    url = args.database_url
    auth = fresh_database(url)
    with gunicorn(url, workers=1) as (base, _proc):
        headers = login(base, auth)
        log_bench.AUTH.update(headers)
        project = requests.post(f"{base}/projects.create", json={"name": "bench"}, headers=headers).json()
        project = project["data"]["id"]
        task = requests.post(f"{base}/tasks.create", headers=headers,
                             json={"name": "bench", "type": "training", "project": project})
        task = task.json()["data"]["id"]
        started = time.perf_counter()
        load_scalars(base, headers, task, args.points)
        print(f"loaded {VARIANTS} x {args.points:,} points in {time.perf_counter() - started:.0f} s")
        log_task = uuid.uuid4().hex
        log_bench.load(base, url, log_task, args.lines)
        load_tasks(url, project, args.tasks)
        with psycopg.connect(libpq_dsn(url), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        print(f"loaded {args.lines:,} log lines and {args.tasks:,} tasks")

        with requests.Session() as browser:
            r = browser.post(f"{base}/ui/signin", data={"access_key": auth[0], "secret_key": auth[1]},
                             allow_redirects=False)
            assert r.status_code == 303, r.text
            print(f"\nScalars tab, {VARIANTS} series x {args.points:,} points (target < 1000 ms)")
            for x in ("iter", "time"):
                whole = f"{base}/ui/data/scalars?task={task}&x={x}&samples=1000"
                show(f"whole task, x by {x}", timed(browser, whole, args.repeat), 1000)
            print("\nZoom steps: one chart of 10 series, range / 4 per step (target < 200 ms)")
            for x, lo, hi, per_unit in (("iter", 0, args.points - 1, 1.0),
                                        ("time", T0, T0 + (args.points - 1) * STEP_MS, 1 / STEP_MS)):
                whole = f"{base}/ui/data/scalars?task={task}&x={x}&samples=1000"
                shown = browser.get(whole).json()["metrics"]
                for a, b in zoom_steps(lo, hi, per_unit):
                    points = int((b - a) * per_unit) + 1
                    zoom = f"{base}/ui/data/scalars?task={task}&x={x}&samples=1000&metric=loss&lo={a}&hi={b}"
                    if x == "time":  # the iteration window the page sends with a zoom by time
                        zoom += "&ilo={}&ihi={}".format(*iteration_window(shown["loss"], a, b))
                    figures = timed(browser, zoom, args.repeat)
                    shown = browser.get(zoom).json()["metrics"]
                    show(f"x by {x}, range of ~{points:,} points per series", figures, 200)
            print(f"\nConsole, {args.lines:,} lines (target < 100 ms for the first page)")
            first_page = f"{base}/ui/data/log?task={log_task}"
            show("first page (newest 500 lines)", timed(browser, first_page, args.repeat), 100)
            middle = log_bench.T0 + (args.lines // 2) * 100
            show("a page scrolled back to the middle",
                 timed(browser, f"{base}/ui/data/log?task={log_task}&before={middle}", args.repeat))
            show("search (newest 500 lines containing 'step 4242')",
                 timed(browser, f"{base}/ui/data/log?task={log_task}&q=step%204242", args.repeat))
            print(f"\nTask list, a project of {args.tasks:,} tasks (50 per page)")
            for sort, order in (("name", "asc"), ("last_update", "desc")):
                first = f"{base}/ui/data/tasks?project={project}&sort={sort}&order={order}"
                show(f"first page by {sort}", timed(browser, first, args.repeat))
                deep = _cursor_at(url, project, sort, order, int(args.tasks * 0.9))
                show(f"page 90% down by {sort} (keyset)",
                     timed(browser, f"{first}&after={requests.utils.quote(deep)}", args.repeat))
            search = f"{base}/ui/data/tasks?project={project}&q=abc"
            show("name search ('abc')", timed(browser, search, args.repeat))


def _cursor_at(url: str, project: str, sort: str, order: str, offset: int) -> str:
    """The keyset cursor of the row at `offset` in the list's order, as the pages would carry it."""
    column = {"name": "t.name", "last_update": "coalesce(t.last_update, t.created)"}[sort]
    with psycopg.connect(libpq_dsn(url)) as conn:
        value, key = conn.execute(
            f"SELECT {column}, t.key FROM tasks t JOIN projects p ON p.key = t.project_key WHERE p.id = %s "
            f"ORDER BY {column} {order}, t.key {order} OFFSET %s LIMIT 1", (project, offset)).fetchone()
    return json.dumps([value.isoformat() if hasattr(value, "isoformat") else value, key])


if __name__ == "__main__":
    main()
