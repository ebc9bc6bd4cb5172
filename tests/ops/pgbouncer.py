"""A private PgBouncer (Debian's package, installed by scripts/install-pgbouncer.sh) in front of the
test cluster, in transaction pooling mode, on a free loopback port: what most PostgreSQL sites put
between their applications and the database."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

from tests.conftest import dsn

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {folder}/users.txt
pool_mode = transaction
max_client_conn = 400
default_pool_size = 20
logfile = {folder}/pgbouncer.log
pidfile = {folder}/pgbouncer.pid
"""


@contextmanager
def pgbouncer(database_url: str, port: int):
    """Run PgBouncer on 127.0.0.1:`port` in front of `database_url`'s server until the block ends;
    yields `database_url` pointed at it. As root it runs as the postgres user (it refuses root)."""
    url = make_url(database_url)
    folder = Path(tempfile.mkdtemp(prefix="events-pgbouncer-"))
    (folder / "users.txt").write_text(f'"{url.username}" ""\n')
    (folder / "pgbouncer.ini").write_text(CONFIG.format(host=url.host, port=url.port or 5432, listen=port,
                                                        folder=folder))
    command = [PGBOUNCER, str(folder / "pgbouncer.ini")]
    if os.getuid() == 0:
        shutil.chown(folder, "postgres")
        for path in folder.iterdir():
            shutil.chown(path, "postgres")
        command = ["runuser", "-u", "postgres", "--", *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    through = url.set(port=port).render_as_string(hide_password=False)
    try:
        _wait_until_up(through, proc, folder)
        yield through
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        shutil.rmtree(folder, ignore_errors=True)


def _wait_until_up(url: str, proc: subprocess.Popen, folder: Path) -> None:
    deadline = time.time() + 30
    while True:
        try:
            with psycopg.connect(dsn(url), connect_timeout=5, prepare_threshold=None) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if proc.poll() is not None or time.time() > deadline:
                log = folder / "pgbouncer.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"pgbouncer did not start: {tail}")
            time.sleep(0.2)
