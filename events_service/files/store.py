"""Where an uploaded file lives on disk, and the checks that keep every path inside its company.

Layout: `<FILES_DIR>/<company id>/<path the SDK gave>`. The SDK names a file by a relative path
(`<project>/<task name>.<task id>/metrics/<metric>/<variant>/<file>`, or `artifacts/...`, `models/...`)
and later fetches `<files host>/<that path>`; the same path read back by the same company finds it.
Another company's file is outside the caller's folder, so it does not exist for the caller.

`relative_path` refuses anything that could leave the folder or name something other than a plain
file below it: `..` and `.` segments (also percent-encoded, as some clients send them), absolute paths
(after the one leading "/" the SDK puts before every name), backslashes, NUL and control characters,
empty segments. `resolve` checks the result against the company folder once more after resolving
symbolic links, so a link planted below it cannot lead out either.

Uploads are written to a temporary file beside the target and renamed into place when complete, so
a reader never sees half a file and a failed or refused upload leaves nothing behind.
"""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from events_service import errors

_FORBIDDEN = re.compile(r"[\x00-\x1f\x7f\\]")
MAX_PATH_LENGTH = 1024


def relative_path(raw: str) -> str:
    """The safe relative form of a client's file path, or 400/12 saying what is wrong with it."""
    path = raw[1:] if raw.startswith("/") else raw
    if not path:
        raise errors.ValidationError("field 'path': a file path is required")
    if len(path) > MAX_PATH_LENGTH:
        raise errors.ValidationError(f"field 'path': longer than {MAX_PATH_LENGTH} characters")
    if path.startswith("/") or re.match(r"^[A-Za-z]:", path):
        raise errors.ValidationError("field 'path': an absolute path is not allowed")
    if _FORBIDDEN.search(path) or _FORBIDDEN.search(unquote(path)):
        raise errors.ValidationError("field 'path': control characters and backslashes are not allowed")
    for segment in path.split("/"):
        decoded = unquote(unquote(segment))
        if decoded in (".", "..") or "/" in decoded:
            raise errors.ValidationError("field 'path': '.', '..' and encoded '/' segments are not allowed")
        if not segment:
            raise errors.ValidationError("field 'path': empty path segments are not allowed")
    return path


def company_root(files_dir: str, company_id: str) -> Path:
    return Path(files_dir).resolve() / company_id


def resolve(files_dir: str, company_id: str, raw: str) -> Path:
    """The file's place on disk for this company; 400 if it would fall outside the company's folder."""
    root = company_root(files_dir, company_id)
    target = (root / relative_path(raw)).resolve()
    if root not in target.parents:
        raise errors.ValidationError("field 'path': the path leaves the files folder")
    return target


def local_address(files_dir: str, company_id: str, url: str) -> str | None:
    """`/files/<path>` when a URL (as the SDK recorded it, under whatever host name it was given
    for this service) names a file this company has in the store; None otherwise."""
    path = urlsplit(url).path
    if not path.startswith("/files/"):
        return None
    try:
        target = resolve(files_dir, company_id, unquote(path[len("/files/"):]))
    except errors.ApiError:
        return None
    return path if target.is_file() else None


def temporary_file(folder: Path) -> Any:
    """An open temporary file in `folder` (created as needed), moved into place by `commit`."""
    folder.mkdir(parents=True, exist_ok=True)
    return tempfile.NamedTemporaryFile(dir=folder, prefix=".upload-", delete=False)


def check_free(targets: list[Path]) -> None:
    """400 before any part of an upload is written when a file and a folder would share a path: a
    target that is a folder (on disk, or above another target of the same upload), or one below a
    file on disk. (commit checks again, for an upload racing another.)"""
    folders = {parent for target in targets for parent in target.parents}
    for target in targets:
        if target.is_dir() or target in folders or any(parent.is_file() for parent in target.parents):
            raise errors.ValidationError("field 'path': a file and a folder cannot have the same path")


def commit(temporary: str, target: Path) -> None:
    """Move the complete upload into place (replacing an older file of that path)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise IsADirectoryError(target)
        os.replace(temporary, target)
    except (FileExistsError, NotADirectoryError, IsADirectoryError):
        raise errors.ValidationError("field 'path': a file and a folder cannot have the same path")


def discard(temporary: str) -> None:
    try:
        os.unlink(temporary)
    except FileNotFoundError:
        pass
