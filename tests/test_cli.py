"""The `events-service credentials` command: pairs are printed once, stored hashed, and work at once."""
from __future__ import annotations

import io
import re
import subprocess
import sys
import uuid
from pathlib import Path

from events_service.cli import main
from tests.helpers import basic_auth


def run(database_url, *args) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["--database-url", database_url, *args], out=out)
    return code, out.getvalue()


def printed_pair(text: str) -> tuple[str, str]:
    key = re.search(r"CLEARML_API_ACCESS_KEY=(\S+)", text)[1]
    secret = re.search(r"CLEARML_API_SECRET_KEY=(\S+)", text)[1]
    return key, secret


def test_create_prints_a_working_pair_once(database_url, anonymous, api, db):
    company = f"acme {uuid.uuid4().hex[:8]}"
    code, text = run(database_url, "credentials", "create", "--company", company, "--user", "alice",
                     "--api-host", "http://127.0.0.1:9999")
    assert code == 0
    assert "export CLEARML_API_HOST=http://127.0.0.1:9999" in text
    assert "export CLEARML_FILES_HOST=http://127.0.0.1:9999/files" in text
    key, secret = printed_pair(text)
    token = api.check_ok(anonymous.get("/auth.login",
                                       headers={"Authorization": basic_auth(key, secret)}))["token"]
    assert token
    row = db.execute("SELECT co.name, c.user_name, c.secret_hash FROM credentials c JOIN companies co "
                     "ON co.key = c.company_key WHERE c.access_key = %s", (key,)).fetchone()
    assert row[:2] == (company, "alice") and secret not in row[2]
    code, listing = run(database_url, "credentials", "list", "--company", company)
    assert key in listing and secret not in listing


def test_a_second_pair_joins_the_same_company(database_url, db):
    company = f"twice {uuid.uuid4().hex[:8]}"
    keys = [printed_pair(run(database_url, "credentials", "create", "--company", company)[1])[0]
            for _ in range(2)]
    companies = {db.execute("SELECT company_key FROM credentials WHERE access_key = %s", (k,)).fetchone()[0]
                 for k in keys}
    assert len(companies) == 1


def test_default_creates_the_first_pair_of_the_default_company_once(database_url, db):
    code, first = run(database_url, "credentials", "default")
    code2, second = run(database_url, "credentials", "default")
    assert code == code2 == 0
    if "CLEARML_API_SECRET_KEY" in first:  # a fresh database: the first call made the pair
        key = printed_pair(first)[0]
        assert key in second and "CLEARML_API_SECRET_KEY" not in second
    assert "export CLEARML_FILES_HOST=" in first and "export CLEARML_FILES_HOST=" in second
    company = db.execute("SELECT c.id FROM credentials k JOIN companies c ON c.key = k.company_key "
                         "WHERE c.id = 'd1bd92a3b039400cbafc60a7a5b1e52b' AND k.revoked IS NULL").fetchall()
    assert len(company) >= 1


def test_revoke_unknown_key_fails(database_url):
    assert run(database_url, "credentials", "revoke", "NOSUCHKEY")[0] == 1


def test_console_script_is_installed(database_url):
    proc = subprocess.run([str(Path(sys.executable).parent / "events-service"),
                           "--database-url", database_url, "credentials", "list"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
