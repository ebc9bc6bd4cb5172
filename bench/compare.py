"""bench/compare.py: this checkout against another revision, through two real gunicorns called in turn.

On a shared machine the speed drifts by tens of percent from minute to minute, so two runs of
bench/queries.py taken apart cannot show a change of a few percent. Here both versions serve the
same database at the same time and every round calls each once, so the drift hits both alike.

    .venv/bin/python bench/queries.py            # first: builds events_bench (10 x 100,000 points)
    .venv/bin/python bench/compare.py --against a6ba937

The other revision is checked out into a temporary git worktree (removed afterwards) and must
read the database's schema as it is (no migration between the two). Figures: medians in ms of
get_task_latest_scalar_values, scalar_metrics_iter_histogram (samples=1000) and
get_scalar_metric_data paging through one whole series (batch_size 10000), and the change.

    .venv/bin/python bench/compare.py --against 0d91da1 --ingest 300

With --ingest N, ingestion instead: each version gets its own fresh task and N add_batch requests
of 1,000 json-lines events (bench/ingest.py's bodies: 10 series, iteration-major, one writer),
one request to each version a round; medians in ms per request and the change.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Callable

import orjson
import psycopg
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, bench_database_url, credentials, gunicorn, libpq_dsn, login  # noqa: E402
from ingest import make_batches  # noqa: E402


def biggest_task(url: str) -> str:
    with psycopg.connect(libpq_dsn(url)) as conn:
        row = conn.execute("SELECT t.id FROM tasks t JOIN series s ON s.task_key = t.key "
                           "GROUP BY t.id ORDER BY sum(s.event_count) DESC LIMIT 1").fetchone()
    if row is None:
        raise SystemExit("the bench database holds no task: run bench/queries.py first")
    return row[0]


class Client:
    """One version's gunicorn, called as the bench/queries.py client calls it."""

    def __init__(self, base: str, auth: tuple[str, str], task: str) -> None:
        self.base, self.task = base, task
        self.http = requests.Session()
        self.http.headers.update(login(base, auth))
        self.http.headers["Content-Type"] = "application/json"

    def call(self, name: str, **body) -> dict:
        r = self.http.post(f"{self.base}/v2.1/{name}", data=orjson.dumps(body))
        r.raise_for_status()
        return orjson.loads(r.content)["data"]

    def latest(self) -> None:
        self.call("events.get_task_latest_scalar_values", task=self.task)

    def histogram(self) -> None:
        self.call("events.scalar_metrics_iter_histogram", task=self.task, samples=1000)

    def ingest(self, bodies: list[bytes]) -> Callable[[], None]:
        """A call that posts the next of `bodies` (add_batch, json-lines)."""
        pending = iter(bodies)

        def post() -> None:
            r = self.http.post(f"{self.base}/v2.9/events.add_batch", data=next(pending),
                               headers={"Content-Type": "application/json-lines"})
            if r.status_code != 200 or r.json()["data"]["errors"]:
                raise SystemExit(f"add_batch failed: {r.text[:300]}")
        return post

    def paging(self) -> None:
        scroll, seen = None, 0
        while True:
            body = {"task": self.task, "metric": "metric0", "batch_size": 10000}
            if scroll:
                body["scroll_id"] = scroll
            data = self.call("events.get_scalar_metric_data", **body)
            seen, scroll = seen + data["returned"], data["scroll_id"]
            if seen >= data["total"] or not data["returned"]:
                return


def in_turn(calls: dict[str, Callable[[], None]], rounds: int) -> dict[str, float]:
    """Median ms per version, one call of each per round (after two warm-up rounds)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for n in range(rounds + 2):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            if n >= 2:
                times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--against", required=True, help="git revision to compare this checkout with")
    parser.add_argument("--rounds", type=int, default=100, help="rounds of the small calls (paging: a tenth)")
    parser.add_argument("--ingest", type=int, default=0, metavar="N",
                        help="compare ingestion instead: N add_batch requests of 1,000 events to each")
    args = parser.parse_args()
    url = bench_database_url()
    task, auth = (uuid.uuid4().hex if args.ingest else biggest_task(url)), credentials(url)
    with tempfile.TemporaryDirectory() as scratch, ExitStack() as stack:
        other = Path(scratch) / "other"
        subprocess.run(["git", "worktree", "add", "--detach", str(other), args.against], cwd=ROOT, check=True,
                       capture_output=True)
        stack.callback(subprocess.run, ["git", "worktree", "remove", "--force", str(other)], cwd=ROOT)
        clients = {}
        for name, tree in ((args.against, other), ("this checkout", ROOT)):
            base, _ = stack.enter_context(gunicorn(url, workers=2, tree=tree))
            clients[name] = Client(base, auth, task)
        if args.ingest:
            events = (args.ingest + 2) * 1000  # two warm-up rounds
            medians = in_turn({name: c.ingest(make_batches(uuid.uuid4().hex, events, 1000, 1)[0])
                               for name, c in clients.items()}, args.ingest)
            before, after = medians[args.against], medians["this checkout"]
            print(f"{'add_batch, 1,000 events':36s} {args.against}: {before:8.2f} ms   this checkout: "
                  f"{after:8.2f} ms   ({(after / before - 1) * 100:+.0f}%)")
            return
        for label, method, rounds in (("get_task_latest_scalar_values", "latest", args.rounds),
                                      ("histogram samples=1000", "histogram", args.rounds),
                                      ("get_scalar_metric_data, one series", "paging",
                                       max(args.rounds // 10, 3))):
            medians = in_turn({name: getattr(c, method) for name, c in clients.items()}, rounds)
            before, after = medians[args.against], medians["this checkout"]
            print(f"{label:36s} {args.against}: {before:8.2f} ms   this checkout: {after:8.2f} ms   "
                  f"({(after / before - 1) * 100:+.0f}%)")


if __name__ == "__main__":
    main()
