"""Shared bench plumbing: a fresh migrated database and a real gunicorn on a free loopback port."""
from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
import requests
from alembic import command

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from alembic.config import Config  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:{port}/events_bench"


def bench_database_url() -> str:
    return os.environ.get("EVENTS_BENCH_DATABASE_URL",
                          DEFAULT_URL.format(port=os.environ.get("EVENTS_PG_PORT", "55432")))


def libpq_dsn(url: str, database: str | None = None) -> str:
    u = make_url(url)
    return u.set(drivername="postgresql",
                 database=database or u.database).render_as_string(hide_password=False)


def fresh_database(url: str) -> tuple[str, str]:
    """Drop, create and migrate the bench database; returns (access key, secret key) for it."""
    name = make_url(url).database
    with psycopg.connect(libpq_dsn(url, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    cfg = Config(str(ROOT / "migrations" / "alembic.ini"))
    cfg.attributes["url"] = url
    cfg.attributes["configure_logger"] = False
    command.upgrade(cfg, "head")
    return credentials(url)


def credentials(url: str, company: str = "bench") -> tuple[str, str]:
    """A key pair for `company` in the database at `url`, made the way the CLI makes one."""
    from sqlalchemy.orm import Session

    from events_service.cli import create_pair
    from events_service.db.queries import tenants
    from events_service.db.session import make_engine

    engine = make_engine(url, pool_size=1)
    try:
        with Session(bind=engine) as session, session.begin():
            found = (tenants.find_company(session, company)
                     or tenants.ensure_company(session, company, company))
            return create_pair(session, found, "bench")
    finally:
        engine.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(url: str, workers: int = 4, app: str = "wsgi:app", tree: Path = ROOT, **env: str):
    """gunicorn `app` (importable from the project or bench/) on the given database, configured as
    `make run` configures it, serving the code of `tree` (another checkout: bench/compare.py);
    yields (base_url, process)."""
    OUT.mkdir(parents=True, exist_ok=True)
    port = free_port()
    environ = dict(os.environ, EVENTS_DATABASE_URL=url, EVENTS_SECRET_KEY="bench-secret",
                   PYTHONPATH=os.pathsep.join([str(tree), str(tree / "bench")]), **env)
    with open(OUT / "gunicorn.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--config", "gunicorn.conf.py", "--bind",
                                 f"127.0.0.1:{port}", "--workers", str(workers), app],
                                cwd=tree, env=environ, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.time() + 30
            while True:
                try:
                    requests.options(f"{base}/events.add", timeout=5)
                    break
                except requests.RequestException:
                    if proc.poll() is not None or time.time() > deadline:
                        raise RuntimeError("gunicorn did not start; see bench/out/gunicorn.log")
                    time.sleep(0.2)
            yield base, proc
        finally:
            proc.terminate()
            proc.wait(timeout=60)


def login(base: str, auth: tuple[str, str]) -> dict[str, str]:
    """Bearer headers from auth.login, as the clearml SDK authenticates every call after login."""
    token = requests.get(f"{base}/auth.login", auth=auth, timeout=30).json()["data"]["token"]
    return {"Authorization": f"Bearer {token}"}


def median_ms(fn, repeat: int = 5) -> float:
    """Median wall time of `repeat` calls, in ms, after one warm-up call (connections, plans, caches)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)
