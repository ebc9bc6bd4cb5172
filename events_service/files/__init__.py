"""The files store: what the clearml SDK uploads to its files server (debug samples, media,
artifacts, models), served back at the URL the SDK recorded.

ClearML's files-server protocol, as the SDK speaks it (clearml/storage/helper.py, _HttpDriver):
- upload: `POST <files host>` with a multipart/form-data body; each part's field name is the file's
  path (`<project>/<task name>.<task id>/...`); any 200 answer is success.
- download: `GET <files host>/<path>` (the path percent-encoded in the URL).
- the SDK sends its API `Authorization: Bearer` token to a host that is its configured files host.
With `CLEARML_FILES_HOST=<this service>/files` every call lands here. Calls are authenticated like
the API (Bearer token or Basic key pair; anonymous is 401) and scoped to the caller's company
(store.py). A download without an Authorization header may also come from the pages for people: an
<img> of the Debug samples tab sends only the viewer's session cookie, so a GET/HEAD reads as that
signed-in company (events_service.viewer.signin, the pages' one way of knowing who looks). Writes never
take the cookie: an upload or delete always needs the API's credentials, so no other page can make a
browser write here. Every download is served with a sandboxing Content-Security-Policy and nosniff: an
HTML or SVG file someone uploaded, opened in the browser, runs no script in this service's origin.
Bodies are streamed both ways: the multipart parser writes each part straight into a temporary file on
disk (werkzeug's stream_factory), and downloads go out through send_file.
"""
from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import IO, Any

from flask import Blueprint, Flask, Response, current_app, jsonify, request, send_file
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser

from events_service import errors
from events_service.api.routes import authenticated_call
from events_service.files import store
from events_service.viewer import signin

blueprint = Blueprint("files", __name__, url_prefix="/files")


def init_app(app: Flask) -> None:
    app.register_blueprint(blueprint)


def _incoming(files_dir: str) -> tuple[list[str], Any]:
    """A stream factory writing every uploaded part to its own temporary file under FILES_DIR, and
    the list of the files it made (to rename or remove afterwards)."""
    made: list[str] = []
    folder = Path(files_dir).resolve() / ".incoming"

    def factory(**_: Any) -> IO[bytes]:
        temporary = store.temporary_file(folder)
        made.append(temporary.name)
        return temporary

    return made, factory


@blueprint.route("", methods=["POST", "PUT"])
@blueprint.route("/", methods=["POST", "PUT"])
def upload() -> Response:
    """Store every part of a multipart body under its field name; all or nothing."""
    call = authenticated_call()
    limit = current_app.config["FILES_MAX_UPLOAD_BYTES"]
    if request.content_length is None:
        raise errors.LengthRequired("an upload must say its Content-Length")
    if request.content_length > limit:
        raise errors.RequestTooLarge(limit=limit)
    if request.mimetype != "multipart/form-data":
        raise errors.ValidationError("field 'Content-Type': an upload is a multipart/form-data body")
    files_dir = current_app.config["FILES_DIR"]
    made, factory = _incoming(files_dir)
    try:
        try:
            parser = FormDataParser(stream_factory=factory, max_content_length=limit,
                                    max_form_memory_size=1024 * 1024)
            _, _, parts = parser.parse_from_environ(request.environ)
        except RequestEntityTooLarge:
            raise errors.RequestTooLarge(limit=limit)
        if not parts:
            raise errors.ValidationError("field 'file': the body holds no file part")
        targets = {name: store.resolve(files_dir, call.company_id, name) for name in parts}
        store.check_free(list(targets.values()))
        for name, part in parts.items(multi=True):
            part.stream.close()
            store.commit(part.stream.name, targets[name])
        return jsonify({name: f"{request.host_url}files/{store.relative_path(name)}" for name in parts})
    finally:
        for temporary in made:
            store.discard(temporary)


def _reader_company() -> str:
    """Who reads: the API's credentials when the request carries them (the SDK), otherwise the
    pages' signed-in session; 401 as for the API when neither."""
    if "Authorization" not in request.headers:
        viewer = signin.current()
        if viewer is not None:
            return viewer.identity.company_id
    return authenticated_call().company_id


@blueprint.route("/<path:path>", methods=["GET", "HEAD"])
def download(path: str) -> Response:
    """The caller's file with its content type and length, streamed; 404 when the company has none."""
    target = store.resolve(current_app.config["FILES_DIR"], _reader_company(), path)
    if not target.is_file():
        raise errors.FileNotFound(path=path)
    mimetype = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    response = send_file(target, mimetype=mimetype, conditional=True, etag=True, max_age=0)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@blueprint.route("/<path:path>", methods=["DELETE"])
def delete(path: str) -> Response:
    """Remove the caller's file (the SDK deletes replaced model files this way)."""
    call = authenticated_call()
    target = store.resolve(current_app.config["FILES_DIR"], call.company_id, path)
    if not target.is_file():
        raise errors.FileNotFound(path=path)
    target.unlink()
    return jsonify({"deleted": path})
