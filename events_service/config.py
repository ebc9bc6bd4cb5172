"""Configuration: every key once, with its default; overridden by EVENTS_<KEY> environment variables."""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

PROJECT_DIR = Path(__file__).resolve().parent.parent

DEFAULTS: dict[str, Any] = {
    # SQLAlchemy URL of the events database; the default is the cluster `make run` starts.
    "DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:55432/events",
    # HMAC key for scroll tokens; empty = read (or create once) SECRET_KEY_FILE, so that
    # every gunicorn worker and every restart signs with the same key.
    "SECRET_KEY": "",
    "SECRET_KEY_FILE": str(PROJECT_DIR / ".tmp" / "secret_key"),
    # Id of the embedded default company (ClearML's), the one `make run` creates a first key pair for.
    "DEFAULT_COMPANY": "d1bd92a3b039400cbafc60a7a5b1e52b",
    # Lifetime of auth.login tokens when the request asks none (expiration_sec), and the longest granted.
    "TOKEN_EXPIRATION_SEC": 30 * 24 * 3600,
    "TOKEN_MAX_EXPIRATION_SEC": 30 * 24 * 3600,
    # Largest request body accepted, in bytes (the SDK sends at most 15 MiB).
    "MAX_BODY_BYTES": 32 * 1024 * 1024,
    # Most events one add_batch request may carry (the SDK's 15 MiB bodies hold ~100,000 scalars).
    "MAX_EVENTS_PER_BATCH": 200_000,
    # Longest metric, variant, worker, image key or url; log msg; plot_str (characters).
    "MAX_NAME_LENGTH": 4096,
    "MAX_MSG_LENGTH": 4 * 1024 * 1024,
    "MAX_PLOT_LENGTH": 16 * 1024 * 1024,
    # Page size of scrolling endpoints when the request gives none, and the cap.
    "DEFAULT_BATCH_SIZE": 500,
    "MAX_BATCH_SIZE": 10000,
    # Folder of the HOCON API definitions.
    "SCHEMA_DIR": str(PROJECT_DIR / "schema"),
    # Validate every response against the schema of the version that served it (tests turn it on).
    "VALIDATE_RESPONSES": False,
    # Put the traceback of unexpected errors into meta.error_stack.
    "RETURN_STACK": False,
    # Most tasks one multi_task_scalar_metrics_iter_histogram call may compare (more: 400/12).
    "MAX_TASKS_PER_MULTI_TASK_CALL": 100,
    # Folder of the files store (events_service/files): uploads of the SDK, one folder per company.
    "FILES_DIR": str(PROJECT_DIR / ".tmp" / "files"),
    # Largest upload to the files store, in bytes (larger: 413, nothing written).
    "FILES_MAX_UPLOAD_BYTES": 8 * 1024 ** 3,
    # Database connections kept per worker process.
    "POOL_SIZE": 5,
    # Read-only endpoints (reads_only handlers) use this database, a streaming replica of
    # DATABASE_URL; empty = the primary. While it does not answer, reads go to the primary.
    "READ_DATABASE_URL": "",
    # DATABASE_URL (and READ_DATABASE_URL) lead to a pooler in transaction mode (PgBouncer):
    # no server-side prepared statements, no session settings sent at connection start.
    "TRANSACTION_POOLING": False,
    # "json": one JSON object per log line, with one line per request (ops/requests.py); "text": plain.
    "LOG_FORMAT": "text",
    # When set, /metrics needs "Authorization: Bearer <METRICS_TOKEN>"; empty = open (bind to loopback).
    "METRICS_TOKEN": "",
    # Seconds between two compaction passes of each API process (events_service/compaction.py); 0 = none.
    "COMPACT_INTERVAL_SEC": 300,
    # A running task's scalar points this many iterations behind their series' newest move into the
    # compact form, whole blocks of 1,000 iterations at a time (aging: events_service/compaction.py).
    "COMPACT_AGE_ITERATIONS": 100,
}


def _coerce(default: Any, raw: str) -> Any:
    """Convert an environment string to the type of the key's default."""
    if isinstance(default, bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if isinstance(default, int):
        return int(raw)
    return raw


def load(overrides: dict[str, Any] | None = None, environ: dict[str, str] | None = None) -> dict[str, Any]:
    """Defaults, then EVENTS_* variables, then explicit overrides (tests)."""
    environ = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    for key, default in DEFAULTS.items():
        raw = environ.get(f"EVENTS_{key}")
        if raw is not None:
            config[key] = _coerce(default, raw)
    config.update(overrides or {})
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _key_from_file(Path(config["SECRET_KEY_FILE"]))
    return config


def _key_from_file(path: Path) -> str:
    """Read the key file, creating it (once, atomically) with a random key."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}")
    tmp.write_text(secrets.token_hex(32))
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)  # fails if another process won the race; then use its key
    except FileExistsError:
        pass
    finally:
        tmp.unlink()
    return path.read_text().strip()
