"""ApiHelper: calls that read like the API, checking the envelope and the response schema."""
from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

from events_service.api.versions import Version


class ApiHelper:
    def __init__(self, app, client):
        self.app, self.client = app, client

    def raw(self, name: str, version: str | None = None, /, method: str = "post", headers=None, **data: Any):
        path = f"/v{version}/{name}" if version else f"/{name}"
        return self.client.open(path, method=method.upper(), json=data, headers=headers or {})

    def call(self, name: str, version: str | None = None, /, **data: Any) -> dict[str, Any]:
        """A call that must succeed; its data, after checking it against the schema that served it."""
        return self.check_ok(self.raw(name, version, **data))

    def check_ok(self, response) -> dict[str, Any]:
        body = response.get_json()
        assert response.status_code == 200, body
        meta = body["meta"]
        assert (meta["result_code"], meta["result_subcode"], meta["result_msg"]) == (200, 0, "OK")
        schema = self.app.extensions["api_schema"].endpoints[meta["endpoint"]["name"]][
            Version.parse(meta["endpoint"]["actual_version"])]
        errors = list(schema.response_validator.iter_errors(body["data"]))
        assert not errors, [e.message for e in errors]
        return body["data"]

    def error(self, name: str, version: str | None = None, /, **data: Any) -> tuple[int, int, str]:
        return self.check_error(self.raw(name, version, **data))

    @staticmethod
    def check_error(response) -> tuple[int, int, str]:
        """(code, subcode, message) of a failed call; the envelope must be ClearML's."""
        body = response.get_json()
        meta = body["meta"]
        assert response.status_code == meta["result_code"] != 200, body
        assert body["data"] == {}
        return meta["result_code"], meta["result_subcode"], meta["result_msg"]

    def batch(self, events: list[dict[str, Any]], version: str = "2.1", headers=None):
        """Post events as json-lines (what the SDK sends); returns the raw response."""
        payload = "\n".join(json.dumps(e) for e in events).encode()  # stdlib: keeps NaN literals
        return self.client.open(f"/v{version}/events.add_batch", method="GET", data=payload,
                                headers={"Content-Type": "application/json-lines", **(headers or {})})

    def add_batch(self, events: list[dict[str, Any]], **kw) -> dict[str, Any]:
        return self.check_ok(self.batch(events, **kw))


def basic_auth(access_key: str, secret_key: str) -> str:
    return "Basic " + base64.b64encode(f"{access_key}:{secret_key}".encode()).decode()


def scalar(task: str, iteration: int | None, metric: str = "loss", variant: str = "total", value: float = 1.0,
           **extra: Any) -> dict[str, Any]:
    event = {"type": "training_stats_scalar", "task": task, "metric": metric, "variant": variant,
             "value": value, **extra}
    if iteration is not None:
        event["iter"] = iteration
    return event


def log(task: str, msg: str, timestamp: int | None = None, level: str = "info",
        **extra: Any) -> dict[str, Any]:
    event = {"type": "log", "task": task, "msg": msg, "level": level, **extra}
    if timestamp is not None:
        event["timestamp"] = timestamp
    return event


class ConcurrentWriter:
    """Adds `events` one by one through events.add on an authenticated client of its own, in a
    thread, while a test scrolls; records when each write was acknowledged and every failure.

    `scroll_while_writing` interleaves them: before each page it waits for one more write, so
    every page is read while events arrive, and `check_scroll` then holds the pages to the
    contract: each write acknowledged, no event twice, the keyset order kept, every event that
    was there before the scroll seen, and no event skipped that was written ahead of the cursor
    before the page that passed its place was asked for.
    """

    def __init__(self, app, events: list[dict[str, Any]]):
        self.client = app.test_client(authorization=app.config["TEST_AUTHORIZATION"])
        self.events = events
        self.acked: list[tuple[float, dict[str, Any]]] = []   # (monotonic time of the 200, event)
        self.failures: list[tuple[int, Any]] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            for event in self.events:
                response = self.client.post("/events.add", json=event)
                if response.status_code == 200 and response.get_json()["data"]["added"] == 1:
                    self.acked.append((time.monotonic(), event))
                else:
                    self.failures.append((response.status_code, response.get_json()))
        finally:
            self.done.set()

    def scroll_while_writing(self, next_page: Callable[[str | None], dict[str, Any]]
                             ) -> list[tuple[float, dict[str, Any]]]:
        """(monotonic time the page was asked for, page) until an empty page."""
        self.thread.start()
        pages: list[tuple[float, dict[str, Any]]] = []
        scroll_id = None
        try:
            while len(pages) < 1000:
                written = len(self.acked) + len(self.failures)
                deadline = time.monotonic() + 5
                while len(self.acked) + len(self.failures) == written and not self.done.is_set() \
                        and time.monotonic() < deadline:
                    time.sleep(0.001)
                asked = time.monotonic()
                page = next_page(scroll_id)
                pages.append((asked, page))
                scroll_id = page["scroll_id"]
                if not page["events"]:
                    break
        finally:
            self.thread.join(timeout=60)
        return pages

    def check_scroll(self, pages: list[tuple[float, dict[str, Any]]], before: list[dict[str, Any]],
                     identity: Callable[[dict[str, Any]], Any]) -> None:
        assert not self.failures, self.failures[:3]
        assert len(self.acked) == len(self.events)
        seen = [e for _, page in pages for e in page["events"]]
        ids = [identity(e) for e in seen]
        assert len(ids) == len(set(ids)), "an event came twice"
        times = [e["timestamp"] for e in seen]
        assert times == sorted(times), "pages out of keyset order"
        assert [identity(e) for e in before] == [i for i in ids if i in {identity(e) for e in before}]
        during = sum(1 for acked, _ in self.acked if pages[0][0] < acked < pages[-1][0])
        assert during >= min(len(self.events), len(pages) - 1) // 2, "the writes did not overlap the scroll"
        seen_ids = set(ids)
        for acked, event in self.acked:
            later = [k for k, (asked, _) in enumerate(pages) if asked > acked]
            if not later:
                continue
            k = later[0]
            passed = [e["timestamp"] for _, page in pages[:k] for e in page["events"]]
            if not passed or event["timestamp"] > max(passed):  # ahead of the cursor when page k was asked
                assert identity(event) in seen_ids, f"skipped: {event}"


def kill_compact_while_waiting(db, database_url: str, lock_key: int, *args: str) -> None:
    """Run `events-service compact ARGS` in a process of its own while the session advisory lock
    `lock_key` (a series' key) is held on `db`, as a writer of that series would hold it; SIGKILL the
    process once it waits for the lock (inside that transaction), then release the lock and wait
    until the killed backend has let go of it too."""
    db.execute("SELECT pg_advisory_lock(%s)", (lock_key,))
    env = dict(os.environ, EVENTS_DATABASE_URL=database_url)
    proc = subprocess.Popen([sys.executable, "-m", "events_service.cli", "compact", *args],
                            cwd=Path(__file__).resolve().parent.parent, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            waiting = db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
                                 "AND objid = %s", (lock_key,)).fetchone()[0]
            if waiting:
                break
            time.sleep(0.05)
        assert waiting, "the compaction never reached the locked series"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        db.execute("SELECT pg_advisory_unlock(%s)", (lock_key,))
        if proc.poll() is None:
            proc.kill()
    deadline = time.monotonic() + 30
    while db.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s",
                     (lock_key,)).fetchone()[0] and time.monotonic() < deadline:
        time.sleep(0.05)


@contextmanager
def repeated_in_background(step: Callable[[], None]) -> Iterator[None]:
    """Run `step` over and over in a thread of its own while the block runs (a compaction or an
    aging racing the block's writes); then fail with what it raised, if anything."""
    failures: list[BaseException] = []
    stop = threading.Event()

    def loop() -> None:
        try:
            while not stop.is_set():
                step()
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's thread
            failures.append(exc)
    thread = threading.Thread(target=loop)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)
    assert not failures, failures
