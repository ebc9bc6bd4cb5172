"""A real streaming replica of the test cluster: pg_basebackup (-R: standby.signal and
primary_conninfo written for us) into a private folder, started on a free loopback port.

It copies the whole cluster: in CI that is the test database; on a shared development cluster it
also copies the other databases there (a few seconds more, nothing else). As root, the files and
the server belong to the postgres user, as scripts/pg.sh does it.
"""
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

from tests.conftest import dsn, free_port


def server_binaries(url: str) -> Path:
    """Debian's binaries of the server's major version (pg_basebackup must match the server)."""
    with psycopg.connect(dsn(url)) as conn:
        major = int(conn.execute("SHOW server_version_num").fetchone()[0]) // 10000
    return Path(f"/usr/lib/postgresql/{major}/bin")


def _as_postgres(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.getuid() == 0 else command


class Replica:
    def __init__(self, primary_url: str):
        self.primary_url = primary_url
        self.folder = Path(tempfile.mkdtemp(prefix="events-replica-"))
        self.data, self.socket = self.folder / "data", self.folder / "sock"
        self.port = free_port()
        self.url = make_url(primary_url).set(port=self.port).render_as_string(hide_password=False)
        self.bin = server_binaries(primary_url)

    def _run(self, *command: str) -> None:
        subprocess.run(_as_postgres(list(command)), check=True, capture_output=True, cwd="/", timeout=300)

    def create(self) -> None:
        self.socket.mkdir()
        if os.getuid() == 0:
            shutil.chown(self.folder, "postgres")
            shutil.chown(self.socket, "postgres")
        primary = make_url(self.primary_url)
        self._run(str(self.bin / "pg_basebackup"), "-h", primary.host or "127.0.0.1",
                  "-p", str(primary.port or 5432), "-U", primary.username or "postgres", "-D", str(self.data),
                  "-R", "-X", "stream", "-c", "fast")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.socket} " \
                  "-c shared_buffers=128MB"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.folder / "server.log"),
                  "-o", options, "-w", "-t", "120", "start")

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def catch_up(self, timeout: float = 60) -> None:
        """Wait until the replica has replayed everything the primary wrote so far."""
        with psycopg.connect(dsn(self.primary_url), autocommit=True) as primary:
            target = primary.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        deadline = time.time() + timeout
        with psycopg.connect(dsn(self.url), autocommit=True) as replica:
            while True:
                behind = replica.execute("SELECT pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn()) > 0",
                                         (str(target),)).fetchone()[0]
                if not behind:
                    return
                if time.time() > deadline:
                    raise TimeoutError("the replica did not catch up")
                time.sleep(0.05)

    def execute(self, statement: str) -> None:
        with psycopg.connect(dsn(self.url), autocommit=True) as conn:
            conn.execute(statement)


@contextmanager
def streaming_replica(primary_url: str):
    replica = Replica(primary_url)
    try:
        replica.create()
        replica.start()
        yield replica
    finally:
        try:
            replica.stop()
        except subprocess.CalledProcessError:
            pass  # already stopped by the test
        shutil.rmtree(replica.folder, ignore_errors=True)
