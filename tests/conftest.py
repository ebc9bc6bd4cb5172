"""Fixtures: a fresh test database built by the migrations, the app, its client, and a real gunicorn."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import requests
from alembic import command
from alembic.config import Config
from flask.testing import FlaskClient
from hypothesis import settings as hypothesis_settings
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from events_service import create_app
from events_service.cli import create_pair
from events_service.db.queries import tenants
from events_service.db.session import make_engine
from tests.helpers import ApiHelper, basic_auth

ROOT = Path(__file__).resolve().parent.parent

# In CI (CI=true) hypothesis replays the same examples every run: property tests and the fuzzer
# look for new inputs on developers' machines, not by chance in the run that decides a landing.
hypothesis_settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/events_test"
SECRET = "test-secret-key"


def database_url_from_env() -> str:
    return os.environ.get("EVENTS_TEST_DATABASE_URL", DEFAULT_URL)


def dsn(url: str) -> str:
    """The libpq DSN of a SQLAlchemy URL (postgresql+psycopg://...), for psycopg.connect."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def server_dsn(url: str, database: str = "postgres") -> str:
    """A libpq DSN for another database on the same server (to create or drop databases)."""
    return make_url(url).set(drivername="postgresql", database=database).render_as_string(hide_password=False)


def recreate_database(url: str) -> None:
    name = make_url(url).database
    with psycopg.connect(server_dsn(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def alembic_config(url: str) -> Config:
    cfg = Config(str(ROOT / "migrations" / "alembic.ini"))
    cfg.attributes["url"] = url
    cfg.attributes["configure_logger"] = False
    return cfg


@contextmanager
def scratch_database(suffix: str):
    """A fresh, empty database named after the test database plus `suffix`, dropped afterwards."""
    url = make_url(database_url_from_env())
    url = url.set(database=f"{url.database}_{suffix}").render_as_string(hide_password=False)
    recreate_database(url)
    try:
        yield url
    finally:
        with psycopg.connect(server_dsn(url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def database_url() -> str:
    url = database_url_from_env()
    recreate_database(url)
    command.upgrade(alembic_config(url), "head")
    return url


def make_credentials(url: str, company: str) -> tuple[str, str]:
    """A fresh key pair for `company` (created when new), made the way the CLI makes one."""
    engine = make_engine(url, pool_size=1)
    try:
        with Session(bind=engine) as session, session.begin():
            found = (tenants.find_company(session, company)
                     or tenants.ensure_company(session, uuid.uuid4().hex, company))
            return create_pair(session, found, "tests")
    finally:
        engine.dispose()


class AuthenticatedClient(FlaskClient):
    """The Flask test client, sending the test company's token unless a call gives its own
    Authorization header (or `headers={"Authorization": ""}` for none): every test goes through
    the real authentication, and tests of other endpoints need not think about it."""

    def __init__(self, *args, authorization: str | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.authorization = authorization

    def open(self, *args, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        if self.authorization and "Authorization" not in headers:
            headers["Authorization"] = self.authorization
        if headers.get("Authorization") == "":
            del headers["Authorization"]
        return super().open(*args, headers=headers, **kwargs)


@pytest.fixture(scope="session")
def credentials(database_url) -> tuple[str, str]:
    """(access key, secret key) of the tests' company."""
    return make_credentials(database_url, "tests")


THROUGH_PGBOUNCER = bool(os.environ.get("EVENTS_TEST_THROUGH_PGBOUNCER"))


@pytest.fixture(scope="session")
def app_database_url(database_url):
    """The URL the app (and the `server` gunicorn) use: the test database itself, or, with
    EVENTS_TEST_THROUGH_PGBOUNCER=1 (tests/ops/test_pgbouncer.py runs tests/services so), a private
    PgBouncer in transaction pooling mode in front of it. Migrations and checks below the API (`db`)
    always go to the database directly."""
    if not THROUGH_PGBOUNCER:
        yield database_url
        return
    from tests.ops.pgbouncer import pgbouncer

    with pgbouncer(database_url, free_port()) as url:
        yield url


@pytest.fixture(scope="session")
def app(app_database_url, credentials, tmp_path_factory):
    app = create_app({"DATABASE_URL": app_database_url, "VALIDATE_RESPONSES": True, "SECRET_KEY": SECRET,
                      "TRANSACTION_POOLING": THROUGH_PGBOUNCER,
                      "FILES_DIR": str(tmp_path_factory.mktemp("files")),
                      "COMPACT_INTERVAL_SEC": 0})  # tests compact explicitly (tests/test_compaction.py)
    app.test_client_class = AuthenticatedClient
    with app.test_client() as anonymous:
        body = anonymous.get("/auth.login", headers={"Authorization": basic_auth(*credentials)}).get_json()
    app.config["TEST_AUTHORIZATION"] = f"Bearer {body['data']['token']}"
    yield app
    if app.extensions.get("db_engine") is not None:
        app.extensions["db_engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client(authorization=app.config["TEST_AUTHORIZATION"])


@pytest.fixture
def anonymous(app):
    """A test client that sends no credentials."""
    return app.test_client()


@pytest.fixture
def api(app, client) -> ApiHelper:
    return ApiHelper(app, client)


@pytest.fixture(scope="module")
def other(app, database_url) -> ApiHelper:
    """The API as seen by a caller of another company (a new company for each test module)."""
    key, secret = make_credentials(database_url, f"other company {uuid.uuid4().hex[:8]}")
    return ApiHelper(app, app.test_client(authorization=basic_auth(key, secret)))


@pytest.fixture
def task_id() -> str:
    """A task id no other test uses: tests share the database and stay independent through ids."""
    return uuid.uuid4().hex


@pytest.fixture
def db(database_url):
    """A plain psycopg connection to the test database, for checks below the API."""
    with psycopg.connect(server_dsn(database_url, make_url(database_url).database), autocommit=True) as conn:
        yield conn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(database_url: str, log_path: Path, workers: int = 2, args: tuple[str, ...] = (),
             **env_overrides: str):
    """Run gunicorn wsgi:app on a free loopback port until the block ends; yields its base URL.

    Its output goes to `log_path`; `args` are more gunicorn options (e.g. the access log `make run` writes).
    """
    port = free_port()
    env = dict(os.environ, EVENTS_DATABASE_URL=database_url, EVENTS_SECRET_KEY=SECRET,
               EVENTS_COMPACT_INTERVAL_SEC="0")  # tests compact explicitly (tests/test_compaction.py)
    env.update(env_overrides)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind", f"127.0.0.1:{port}",
             "--workers", str(workers), *args, "wsgi:app"],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 30
            while True:
                try:
                    requests.options(f"{base}/events.add", timeout=5)
                    break
                except requests.RequestException:  # not up yet, or still booting
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError(f"gunicorn did not start: {log_path.read_text()[-2000:]}")
                    time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture(scope="session")
def server(app_database_url, tmp_path_factory):
    """A real gunicorn (2 workers) on the test database."""
    with gunicorn(app_database_url, tmp_path_factory.mktemp("gunicorn") / "server.log",
                  EVENTS_TRANSACTION_POOLING=str(THROUGH_PGBOUNCER),
                  EVENTS_FILES_DIR=str(tmp_path_factory.mktemp("files-store"))) as base:
        yield base


@pytest.fixture(scope="session")
def http(server, credentials) -> requests.Session:
    """A requests session authenticated with the tests' credentials (HTTP Basic on every call)."""
    with requests.Session() as session:
        session.auth = credentials
        yield session
