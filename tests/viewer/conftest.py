"""Fixtures of the viewer's tests: a recorded task (through the real API of the session's gunicorn),
a second company, debug samples on an image server elsewhere and in the service's own files store,
and one headless Chromium per module."""
from __future__ import annotations

import functools
import io
import json
import math
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from PIL import Image

from tests.conftest import ROOT, make_credentials

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# As root Chromium needs --no-sandbox; the rest keep it off the network and quiet.
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000")
SCREENSHOTS = ROOT / ".tmp" / "viewer"

# Names a training script may report, which must be shown as typed and never run.
HOSTILE_VARIANT = "<img src=x onerror=window.__xss=1>"
HOSTILE_METRIC = "<script>window.__xss=2</script>acc"
HOSTILE_TITLE = "<img src=x onerror=window.__xss=3> roc"
HOSTILE_LOG = "<img src=x onerror=window.__xss=4>"
ITERATIONS = 3000
LOG_LINES = 1200
IMAGE_ITERATIONS = 5
STORED_ITERATIONS = 2


def image_size(variant: str, iteration: int) -> tuple[int, int]:
    return (10 + iteration, 20 + 2 * iteration) if variant == "a" else (30 + iteration, 15)


@dataclass
class Recorded:
    """What the tests reported, and how to ask the API about it."""

    base: str
    http: requests.Session
    project: str
    task: str
    other_task: str
    t0: int
    foreign_project: str = ""
    foreign_task: str = ""
    images: dict[str, tuple[int, int]] = field(default_factory=dict)
    stored_images: dict[str, tuple[int, int]] = field(default_factory=dict)
    lost_image: str = ""  # an address in the files store that holds no file

    def api(self, endpoint: str, /, **data):
        response = self.http.post(f"{self.base}/{endpoint}", json=data)
        assert response.status_code == 200, response.text
        return response.json()["data"]

    def add(self, events: list[dict]) -> None:
        body = "\n".join(json.dumps(e) for e in events)
        response = self.http.post(f"{self.base}/events.add_batch", data=body,
                                  headers={"Content-Type": "application/json-lines"})
        assert response.status_code == 200, response.text


@pytest.fixture(scope="session")
def image_server(tmp_path_factory):
    """A plain HTTP server of PNG files: the URLs debug samples record."""
    folder = tmp_path_factory.mktemp("images")
    handler = functools.partial(_QuietHandler, directory=str(folder))
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def _png(size: tuple[int, int], color: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="PNG")
    return out.getvalue()


def _store_samples(rec: Recorded, task: str, task_name: str) -> list[dict]:
    """Debug images uploaded into the service's files store as the SDK uploads them (one multipart
    part named by the file's path), recorded with the URL the SDK records: <files host>/<path>; and
    one whose file is not there."""
    events = []
    rec.lost_image = f"{rec.base}/files/{quote(f'viewer project/{task_name}.{task}/metrics/lost/gone.png')}"
    for it in range(1, STORED_ITERATIONS + 1):
        for variant, size, color in (("rgb", (120 + 20 * it, 90), (200, 80, 40)),
                                     ("mask", (64, 64 + it), (30, 30, 30))):
            path = f"viewer project/{task_name}.{task}/metrics/stored/{variant}/stored_{variant}_{it:08d}.png"
            response = rec.http.post(f"{rec.base}/files", files={f"/{path}": (path, _png(size, color))})
            assert response.status_code == 200, response.text
            # the mask as recorded by an SDK that named this service "localhost" (the browser is at
            # 127.0.0.1: another site, so no session cookie would go there)
            base = rec.base.replace("127.0.0.1", "localhost") if variant == "mask" else rec.base
            url = f"{base}/files/{quote(path)}"
            rec.stored_images[url] = size
            events.append({"type": "training_debug_image", "task": task, "iter": it, "timestamp": rec.t0 + it,
                           "metric": "stored", "variant": variant, "url": url})
    events.append({"type": "training_debug_image", "task": task, "iter": 1, "timestamp": rec.t0 + 1,
                   "metric": "lost", "variant": "gone", "url": rec.lost_image})
    return events


@pytest.fixture(scope="session")
def recorded(server, http, database_url, image_server) -> Recorded:
    """Two tasks of one project (scalars, plots, debug samples, console of the first) and another
    company's project and task, all reported through the API."""
    folder, image_base = image_server
    rec = Recorded(base=server, http=http, project="", task="", other_task="", t0=0)
    rec.project = rec.api("projects.create", name=f"viewer {uuid.uuid4().hex[:8]}")["id"]
    rec.task = rec.api("tasks.create", name="<b>run A</b>", type="training", project=rec.project)["id"]
    rec.other_task = rec.api("tasks.create", name="run B", type="training", project=rec.project)["id"]
    rec.t0 = t0 = int(time.time() * 1000) - 10_000_000
    events: list[dict] = []
    for i in range(ITERATIONS):
        ts = t0 + i * 1000
        events.append(_scalar(rec.task, i, ts, "loss", "train", math.exp(-i / 800) + 0.05 * math.sin(i / 7)))
        events.append(_scalar(rec.task, i, ts, "loss", HOSTILE_VARIANT, math.exp(-i / 900) + 0.1))
        if i % 100 == 0:
            events.append(_scalar(rec.task, i, ts, HOSTILE_METRIC, "top1", 1 - math.exp(-i / 700)))
        if i % 2 == 0:
            events.append(_scalar(rec.other_task, i, ts, "loss", "train", math.exp(-i / 500)))
    for it in range(1, 5):
        figure = {"data": [{"type": "scatter", "x": [1, 2, 3], "y": [it, 2 * it, 3 * it], "name": "a"},
                           {"type": "bar", "x": [1, 2], "y": [it, it], "name": "b"}],
                  "layout": {"title": f"{HOSTILE_TITLE} {it}"}}
        events.append({"type": "plot", "task": rec.task, "iter": it, "timestamp": t0 + it, "metric": "roc",
                       "variant": "curve", "plot_str": json.dumps(figure)})
    events.append({"type": "plot", "task": rec.task, "iter": 2, "timestamp": t0 + 2, "metric": "pr",
                   "variant": "pr", "plot_str": json.dumps({"data": [{"type": "scatter", "y": [1, 2]}],
                                                            "layout": {"title": {"text": "pr"}}})})
    for it in range(1, IMAGE_ITERATIONS + 1):
        for variant in ("a", "b"):
            name = f"{variant}_{it}.png"
            (folder / name).write_bytes(_png(image_size(variant, it)))
            rec.images[f"{image_base}/{name}"] = image_size(variant, it)
            events.append({"type": "training_debug_image", "task": rec.task, "iter": it, "timestamp": t0 + it,
                           "metric": "samples", "variant": variant, "url": f"{image_base}/{name}"})
    events += _store_samples(rec, rec.other_task, "run B")
    for n in range(LOG_LINES):
        events.append({"type": "log", "task": rec.task, "timestamp": t0 + n * 10, "level": "info",
                       "msg": f"line {n} {HOSTILE_LOG}"})
    rec.add(events)

    key, secret = make_credentials(database_url, "viewer-other")
    with requests.Session() as other:
        other.auth = (key, secret)
        foreign = Recorded(base=server, http=other, project="", task="", other_task="", t0=0)
        rec.foreign_project = foreign.api("projects.create", name="foreign")["id"]
        rec.foreign_task = foreign.api("tasks.create", name="foreign", type="training",
                                       project=rec.foreign_project)["id"]
        foreign.add([_scalar(rec.foreign_task, 1, t0, "loss", "train", 1.0)])
    return rec


def _scalar(task: str, iteration: int, ts: int, metric: str, variant: str, value: float) -> dict:
    return {"type": "training_stats_scalar", "task": task, "iter": iteration, "timestamp": ts,
            "metric": metric, "variant": variant, "value": value}


@pytest.fixture(scope="module")
def browser(server, credentials):
    """One headless Chromium (Debian's, through its chromedriver: no driver download), signed in."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    profile = tempfile.mkdtemp(prefix="viewer-chromium-")
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    try:
        driver.get(f"{server}/")
        assert "/ui/signin" in driver.current_url  # no page without sign-in
        driver.find_element(By.ID, "access_key").send_keys(credentials[0])
        driver.find_element(By.ID, "secret_key").send_keys(credentials[1])
        driver.find_element(By.ID, "signin").click()
        WebDriverWait(driver, 10).until(lambda d: "/ui/signin" not in d.current_url)
        yield driver
    finally:
        driver.quit()


def screenshot(driver, name: str) -> Path:
    path = SCREENSHOTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path
