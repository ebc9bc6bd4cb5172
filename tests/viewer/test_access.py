"""Sign-in, company scoping and bad input of the pages and data calls (Flask test client, real database)."""
from __future__ import annotations

import io
import json
import uuid
from urllib.parse import quote

import pytest

from tests.files.test_files import PNG, fetch, upload
from tests.helpers import scalar


@pytest.fixture
def signed_in(app, credentials):
    """A browser-like client (no Authorization header) with the viewer's cookie."""
    client = app.test_client()
    response = client.post("/ui/signin", data={"access_key": credentials[0], "secret_key": credentials[1],
                                               "next": "/"})
    assert response.status_code == 303
    return client


@pytest.fixture
def task(api) -> tuple[str, str]:
    project = api.call("projects.create", name=f"access {uuid.uuid4().hex[:8]}")["id"]
    task_id = api.call("tasks.create", name="t", type="training", project=project)["id"]
    api.add_batch([scalar(task_id, i, value=float(i), timestamp=1_700_000_000_000 + i) for i in range(50)])
    return project, task_id


def test_sign_in_sets_an_httponly_strict_cookie_secure_over_https(app, credentials):
    client = app.test_client()
    form = {"access_key": credentials[0], "secret_key": credentials[1], "next": "/projects/x"}
    response = client.post("/ui/signin", data=form)
    assert response.status_code == 303 and response.headers["Location"] == "/projects/x"
    assert response.headers["X-Frame-Options"] == "DENY"
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" not in cookie
    secure = app.test_client().post("/ui/signin", data=form, base_url="https://localhost")
    assert "Secure" in secure.headers["Set-Cookie"]


def test_wrong_keys_and_foreign_redirects_are_refused(app, credentials):
    client = app.test_client()
    wrong = client.post("/ui/signin", data={"access_key": credentials[0], "secret_key": "nope"})
    assert wrong.status_code == 401 and b"wrong secret key" in wrong.data
    assert "Set-Cookie" not in wrong.headers
    unknown = client.post("/ui/signin", data={"access_key": "NOSUCHKEY\x00", "secret_key": "x"})
    assert unknown.status_code == 401
    keys = {"access_key": credentials[0], "secret_key": credentials[1]}
    for target in ("//evil.example/", "/\\evil.example/", "/x\r\nSet-Cookie: a=b"):
        elsewhere = client.post("/ui/signin", data={**keys, "next": target})
        assert (elsewhere.status_code, elsewhere.headers["Location"]) == (303, "/"), target


def test_no_page_or_data_without_sign_in(app, task):
    project, task_id = task
    client = app.test_client()
    for path in ("/", f"/projects/{project}", f"/projects/{project}/experiments/{task_id}/output/log"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/ui/signin?next=/")
    for path in (f"/ui/data/scalars?task={task_id}", f"/ui/data/log?task={task_id}", "/ui/data/tasks"):
        response = client.get(path)
        assert response.status_code == 401 and response.get_json() == {"error": "not signed in"}
    forged = app.test_client()
    forged.set_cookie("events_viewer", "not.a.token")
    assert forged.get("/").status_code == 302


def test_sign_out_ends_the_session(signed_in):
    assert signed_in.get("/").status_code == 200
    response = signed_in.post("/ui/signout")
    assert response.status_code == 303 and "events_viewer=;" in response.headers["Set-Cookie"]
    assert signed_in.get("/").status_code == 302


def test_another_companys_project_and_task_are_404(other, signed_in):
    project = other.call("projects.create", name="theirs")["id"]
    task_id = other.call("tasks.create", name="theirs", type="training", project=project)["id"]
    for path in (f"/projects/{project}", f"/projects/{project}/experiments/{task_id}/scalars",
                 f"/projects/*/experiments/{task_id}/console",
                 f"/projects/{project}/compare?tasks={task_id}"):
        response = signed_in.get(path)
        assert response.status_code == 404 and b"No such" in response.data, path
    for path in (f"/ui/data/scalars?task={task_id}", f"/ui/data/log?task={task_id}",
                 f"/ui/data/plots?task={task_id}", f"/ui/data/debug?task={task_id}",
                 f"/ui/data/compare?tasks={task_id}", f"/ui/data/tasks?project={project}",
                 f"/ui/data/log/download?task={task_id}"):
        response = signed_in.get(path)
        assert response.status_code == 404 and "No such" in response.get_json()["error"], path


def test_bad_input_is_a_message_never_a_500(signed_in, task):
    project, task_id = task
    pages = {f"/projects/{project}/experiments/{task_id}/nosuchtab": 404,
             f"/projects/{project}/experiments/bad%00id/scalars": 404,
             f"/projects/{project}/experiments/{'x' * 500}/scalars": 404,
             f"/projects/{uuid.uuid4().hex}/experiments/{task_id}/scalars": 404,
             f"/projects/{project}/compare": 404}
    for path, status in pages.items():
        response = signed_in.get(path)
        assert response.status_code == status and b'id="error-message"' in response.data, path
    data = {f"/ui/data/scalars?task={task_id}&metric=loss&lo=10&hi=5": "upside down",
            f"/ui/data/scalars?task={task_id}&metric=loss&lo=1.5&hi=5": "'lo' must be an integer",
            f"/ui/data/scalars?task={task_id}&metric=loss&lo=0&hi={10**20}": "'hi' must be between",
            f"/ui/data/scalars?task={task_id}&metric=loss&lo=0": "needs both",
            f"/ui/data/scalars?task={task_id}&lo=0&hi=5": "needs the 'metric'",
            f"/ui/data/scalars?task={task_id}&x=epoch": "'x' must be",
            f"/ui/data/scalars?task={task_id}&samples=0": "'samples' must be between",
            f"/ui/data/log?task={task_id}&before=yesterday": "'before' must be an integer",
            "/ui/data/tasks?sort=password": "'sort' must be one of",
            "/ui/data/tasks?after=[1": "'after' is not a cursor",
            "/ui/data/compare?tasks=": "names no task",
            # issue 14's rules for query strings: ASCII integers only, no NUL, cursors of this list only
            f"/ui/data/scalars?task={task_id}&samples={quote('١٢')}": "'samples' must be an integer",
            f"/ui/data/scalars?task={task_id}&samples=%2B5": "'samples' must be an integer",
            f"/ui/data/scalars?task={task_id}&metric=lo%00ss&lo=0&hi=5": "'metric' must not contain NUL",
            f"/ui/data/debug?task={task_id}&metric=a%00": "'metric' must not contain NUL",
            f"/ui/data/tasks?sort=last_iteration&after={quote('[1e400, 1]')}": "'after' is not a cursor",
            f"/ui/data/tasks?sort=name&after={quote(json.dumps(['x' + chr(0), 1]))}": "is not a cursor",
            f"/ui/data/tasks?sort=name&after={quote(json.dumps(['x', 10**30]))}": "'after' is not a cursor"}
    for path, wanted in data.items():
        response = signed_in.get(path)
        assert response.status_code == 400 and wanted in response.get_json()["error"], path
    as_float = signed_in.get(f"/ui/data/scalars?task={task_id}&samples=5.0")  # the integer it equals
    assert as_float.get_json() == signed_in.get(f"/ui/data/scalars?task={task_id}&samples=5").get_json()
    huge = signed_in.get(f"/ui/data/scalars?task={task_id}&metric=loss&lo={-2**63}&hi={2**63 - 1}&x=time")
    assert huge.status_code == 200 and len(huge.get_json()["metrics"]["loss"]["total"]["x"]) == 50
    for x in ("iter", "time"):
        huge = signed_in.get(f"/ui/data/scalars?task={task_id}&metric=loss&lo={-2**63}&hi={2**63 - 1}&x={x}"
                             "&samples=5")
        assert huge.status_code == 200 and len(huge.get_json()["metrics"]["loss"]["total"]["x"]) == 1, x


def test_zoom_data_call_re_buckets_the_range(signed_in, api, task):
    _project, task_id = task
    whole = signed_in.get(f"/ui/data/scalars?task={task_id}&samples=10").get_json()
    whole = whole["metrics"]["loss"]["total"]
    assert len(whole["x"]) <= 10 and "y_min" in whole
    zoomed = signed_in.get(f"/ui/data/scalars?task={task_id}&samples=10&metric=loss&lo=20&hi=29").get_json()
    assert zoomed["metrics"]["loss"]["total"] == {"x": list(range(20, 30)),
                                                  "y": [float(i) for i in range(20, 30)]}
    merged = signed_in.get(f"/ui/data/scalars?task={task_id}&samples=5&metric=loss&lo=0&hi=49").get_json()
    points = merged["metrics"]["loss"]["total"]
    assert points["x"] == [0, 10, 20, 30, 40] and points["y_min"] == [0.0, 10.0, 20.0, 30.0, 40.0]
    assert points["y_max"] == [9.0, 19.0, 29.0, 39.0, 49.0] and points["y"] == [4.5, 14.5, 24.5, 34.5, 44.5]


def test_charts_by_time_place_iteration_buckets_at_their_first_points_time(signed_in, task):
    _project, task_id = task
    t0 = 1_700_000_000_000
    whole = signed_in.get(f"/ui/data/scalars?task={task_id}&x=time&samples=5").get_json()
    points = whole["metrics"]["loss"]["total"]
    assert points["x"] == [t0 + i for i in (0, 10, 20, 30, 40)] and points["it"] == [0, 10, 20, 30, 40]
    assert points["y_min"] == [0.0, 10.0, 20.0, 30.0, 40.0] and points["y"] == [4.5, 14.5, 24.5, 34.5, 44.5]
    every = signed_in.get(f"/ui/data/scalars?task={task_id}&x=time&samples=10&metric=loss"
                          f"&lo={t0 + 22}&hi={t0 + 27}&ilo=20&ihi=29").get_json()["metrics"]["loss"]["total"]
    assert every == {"x": [t0 + i for i in range(22, 28)], "y": [float(i) for i in range(22, 28)],
                     "it": list(range(22, 28))}
    grouped = signed_in.get(f"/ui/data/scalars?task={task_id}&x=time&samples=5&metric=loss"
                            f"&lo={t0 + 20}&hi={t0 + 29}&ilo=29&ihi=20").get_json()
    grouped = grouped["metrics"]["loss"]["total"]
    assert grouped["it"] == [20, 22, 24, 26, 28] and grouped["x"] == [t0 + i for i in (20, 22, 24, 26, 28)]
    assert grouped["y_max"] == [21.0, 23.0, 25.0, 27.0, 29.0]


def test_task_list_pages_by_keyset_sorts_and_searches(signed_in, api):
    project = api.call("projects.create", name=f"list {uuid.uuid4().hex[:8]}")["id"]
    names = [f"task {n:03d}" for n in range(60)] + ["<b>bold</b> 100%_x"]
    for name in names:
        api.call("tasks.create", name=name, type="training", project=project)
    seen, after = [], None
    while True:
        query = f"/ui/data/tasks?project={project}&sort=name&order=asc" + (f"&after={after}" if after else "")
        page = signed_in.get(query).get_json()
        seen += [t["name"] for t in page["tasks"]]
        after = page["next"]
        if after is None:
            break
        after = quote(after)
    assert seen == sorted(names)
    descending = signed_in.get(f"/ui/data/tasks?project={project}&sort=name&order=desc").get_json()["tasks"]
    assert [t["name"] for t in descending] == sorted(names, reverse=True)[:50]
    found = signed_in.get(f"/ui/data/tasks?project={project}&q=100%25_").get_json()["tasks"]
    assert [t["name"] for t in found] == ["<b>bold</b> 100%_x"]  # % and _ are not wildcards


def test_console_download_is_the_whole_log_as_text(signed_in, api, task):
    _project, task_id = task
    api.add_batch([{"type": "log", "task": task_id, "timestamp": 1_700_000_000_000 + n, "level": "info",
                    "msg": f"m{n}"} for n in range(3)])
    response = signed_in.get(f"/ui/data/log/download?task={task_id}")
    assert response.status_code == 200 and response.headers["Content-Disposition"].startswith("attachment")
    assert [line.split(" ", 3)[3] for line in response.data.decode().splitlines()] == ["m0", "m1", "m2"]
    assert json.loads(signed_in.get(f"/ui/data/log?task={task_id}").data)["total"] == 3


def test_the_session_cookie_reads_the_companys_files_and_writes_nothing(app, client, other, signed_in):
    """An <img> of the Debug samples tab sends only the cookie: it reads (GET, HEAD) this company's
    files in the store, never another company's, and never uploads or deletes."""
    ours = f"/proj/run.{uuid.uuid4().hex}/metrics/samples/a/a_00000001.png"
    theirs = f"proj/run.{uuid.uuid4().hex}/metrics/samples/a/theirs.png"
    assert upload(client, {ours: PNG}).status_code == 200  # as the SDK uploads (Bearer)
    assert upload(other.client, {theirs: b"theirs"}).status_code == 200
    got = fetch(signed_in, f"/files{ours}")
    assert (got.status_code, got.data, got.mimetype) == (200, PNG, "image/png")
    assert got.headers["Content-Security-Policy"] == "default-src 'none'; sandbox"
    assert fetch(signed_in, f"/files{ours}", method="HEAD").status_code == 200
    assert fetch(signed_in, f"/files/{theirs}").status_code == 404
    # the API's credentials, when sent, decide (a bad token is not rescued by the cookie)
    bad_token = {"Authorization": "Bearer not.a.token"}
    assert fetch(signed_in, f"/files{ours}", headers=bad_token).status_code == 401
    assert fetch(signed_in, f"/files/{theirs}", headers={"Authorization": other.client.authorization}).data \
        == b"theirs"
    # no write with the cookie alone: 401, and the file is unchanged
    assert upload(signed_in, {ours: b"replaced"}).status_code == 401
    assert signed_in.put("/files", data={ours: (io.BytesIO(b"replaced"), ours)},
                         content_type="multipart/form-data").status_code == 401
    assert signed_in.delete(f"/files{ours}").status_code == 401
    assert fetch(client, f"/files{ours}").data == PNG
    # no session, a forged one, or one signed out: 401
    assert fetch(app.test_client(), f"/files{ours}").status_code == 401
    forged = app.test_client()
    forged.set_cookie("events_viewer", "not.a.token")
    assert fetch(forged, f"/files{ours}").status_code == 401
    signed_in.post("/ui/signout")
    assert fetch(signed_in, f"/files{ours}").status_code == 401


def test_debug_samples_load_the_companys_stored_files_from_this_host(client, other, signed_in, api, task):
    """The page loads a file of the company's own store by its /files/ path on this host, whatever
    host name the SDK recorded; any other address (elsewhere, missing, another company's) as recorded."""
    _project, task_id = task
    ours, theirs = (f"proj/run.{task_id}/metrics/shots/{name}.png" for name in ("ours", "theirs"))
    upload(client, {f"/{ours}": PNG})
    upload(other.client, {f"/{theirs}": PNG})
    alias = "http://files-alias.internal:8008/files"
    urls = {"stored": f"{alias}/{ours}", "elsewhere": "https://img.example/a.png",
            "missing": f"{alias}/{ours}.gone", "foreign": f"{alias}/{theirs}",
            "traversal": "http://h/files/../x"}
    api.add_batch([{"type": "training_debug_image", "task": task_id, "iter": 1, "metric": "shots",
                    "timestamp": 1_700_000_000_000, "variant": variant, "url": url}
                   for variant, url in urls.items()])
    found = signed_in.get(f"/ui/data/debug?task={task_id}&metric=shots").get_json()
    images = {image["variant"]: image for image in found["iterations"][0]["images"]}
    assert {variant: image["url"] for variant, image in images.items()} == urls
    sources = {variant: image["src"] for variant, image in images.items()}
    assert sources == {**urls, "stored": f"/files/{ours}"}
    assert fetch(signed_in, images["stored"]["src"]).data == PNG
