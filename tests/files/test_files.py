"""The files store (events_service/files): ClearML files-server uploads and downloads, authenticated,
company-scoped, refusing traversal, oversize and anonymous writes with a 4xx and writing nothing."""
from __future__ import annotations

import io
import uuid
from pathlib import Path

import pytest

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8


def unique(name: str) -> str:
    return f"proj/task.{uuid.uuid4().hex}/metrics/{name}"


def upload(client, fields: dict[str, bytes], **kw):
    """What the SDK sends: one multipart part per file, its field name (and file name) the path."""
    data = {name: (io.BytesIO(body), name) for name, body in fields.items()}
    return client.post("/files", data=data, content_type="multipart/form-data", **kw)


def fetch(client, url: str, **kw):
    """GET a file and close the response (send_file keeps the file open until then)."""
    response = client.get(url, **kw)
    response.get_data()  # read (and kept) before the file is closed
    response.close()
    return response


def stored(app) -> list[Path]:
    """Every file below the store's folder (temporary ones included)."""
    return [p for p in Path(app.config["FILES_DIR"]).rglob("*") if p.is_file()]


def test_upload_then_download_the_same_bytes_with_type_and_length(client):
    path = unique("samples/ramp/samples_ramp_00000000.png")
    response = upload(client, {"/" + path: PNG})  # the SDK puts a '/' before the path
    assert response.status_code == 200, response.get_data(as_text=True)
    got = fetch(client, f"/files/{path.replace(' ', '%20')}")
    assert got.status_code == 200
    assert got.data == PNG
    assert got.headers["Content-Type"] == "image/png"
    assert int(got.headers["Content-Length"]) == len(PNG)


def test_names_with_spaces_and_percent_encoded_urls(client):
    path = unique("media/my clip/clip 1.txt")
    assert upload(client, {path: b"hello"}).status_code == 200
    got = fetch(client, "/files/" + path.replace(" ", "%20"))
    assert (got.status_code, got.data, got.mimetype) == (200, b"hello", "text/plain")


def test_a_second_upload_replaces_the_file(client):
    path = unique("artifacts/a/a.bin")
    upload(client, {path: b"one"})
    upload(client, {path: b"two"})
    assert fetch(client, f"/files/{path}").data == b"two"


@pytest.mark.parametrize("name", ["../escape.txt", "a/../../escape.txt", "//etc/escape.txt",
                                  "a/%2e%2e/%2e%2e/x",
                                  "a/%252e%252e/x", "a//b", "a/./b", "C:/x", "a/%2fb", "a\x00b"])
def test_traversal_in_an_upload_is_400_and_nothing_is_written(app, client, name):
    before = stored(app)
    response = upload(client, {name: b"evil"})
    body = response.get_json()
    assert response.status_code == 400 and "field 'path'" in body["meta"]["result_msg"], body
    assert stored(app) == before


@pytest.mark.parametrize("url", ["/files/a/%2e%2e/%2e%2e/secret_key", "/files/%252e%252e/x",
                                 "/files/a/..%2f..%2fx", "/files/a%5c..%5cx"])
def test_traversal_in_a_download_is_400(client, url):
    assert client.get(url).status_code == 400


def test_a_file_and_a_folder_of_one_path_are_400_and_nothing_is_written(app, client):
    folder = unique("clash")
    before = stored(app)
    for parts in ({f"{folder}/b.txt": b"file", f"{folder}/b.txt/c": b"below it"},  # in one upload
                  {f"{folder}/d/e": b"x", f"{folder}/d": b"the folder"}):
        response = upload(client, parts)
        assert response.status_code == 400 and "field 'path'" in response.get_json()["meta"]["result_msg"]
        assert stored(app) == before, parts  # all or nothing: no part of a refused upload stays
    assert upload(client, {f"{folder}/f": b"a file"}).status_code == 200
    assert upload(client, {f"{folder}/g": b"x", f"{folder}/f/h": b"below a file"}).status_code == 400
    assert fetch(client, f"/files/{folder}/g").status_code == 404


def test_another_companys_file_does_not_exist_for_the_caller(client, other):
    other = other.client
    path = unique("artifacts/secret/secret.bin")
    upload(client, {path: b"ours"})
    assert fetch(other, f"/files/{path}").status_code == 404
    assert upload(other, {path: b"theirs"}).status_code == 200
    assert fetch(other, f"/files/{path}").data == b"theirs"
    assert fetch(client, f"/files/{path}").data == b"ours"
    assert other.delete(f"/files/{path}").status_code == 200
    assert fetch(client, f"/files/{path}").data == b"ours"


def test_anonymous_calls_are_401_and_write_nothing(app, anonymous, client):
    path = unique("x.bin")
    before = stored(app)
    assert upload(anonymous, {path: b"x"}).status_code == 401
    assert stored(app) == before
    upload(client, {path: b"x"})
    assert anonymous.get(f"/files/{path}").status_code == 401
    assert anonymous.get(f"/files/{path}", headers={"Authorization": "Bearer not.a.token"}).status_code == 401


def test_an_upload_over_the_limit_is_413_and_writes_nothing(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "FILES_MAX_UPLOAD_BYTES", 4096)
    before = stored(app)
    response = upload(client, {unique("big.bin"): b"x" * 8192})
    assert response.status_code == 413
    assert stored(app) == before
    assert upload(client, {unique("small.bin"): b"x" * 100}).status_code == 200


def test_a_body_that_is_not_multipart_or_holds_no_file_is_400(app, client):
    before = stored(app)
    assert client.post("/files", data=b"raw", content_type="application/octet-stream").status_code == 400
    response = client.post("/files", data={"field": "value"}, content_type="multipart/form-data")
    assert response.status_code == 400
    assert stored(app) == before


def test_a_missing_file_is_404(client):
    response = client.get(f"/files/{unique('none.bin')}")
    assert response.status_code == 404 and response.get_json()["meta"]["result_subcode"] == 1


def test_the_api_keeps_working_beside_the_store(api):
    assert api.call("tasks.get_all", "2.20", id=["none"])["tasks"] == []
