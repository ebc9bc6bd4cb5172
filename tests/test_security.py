"""Security checks over a real gunicorn: credentials and tokens never reach the service's logs.

The server runs as `make run` runs it (gunicorn.conf.py, --access-logfile -), with its whole
output (access log, error log, application log) in one file. Every way a credential can reach
the server is exercised, the good and the bad, then the file is searched for every secret string.
"""
from __future__ import annotations

import base64
import uuid

import requests

from tests.conftest import gunicorn, make_credentials
from tests.helpers import basic_auth


def test_secrets_and_tokens_never_appear_in_the_logs(database_url, tmp_path):
    key, secret = make_credentials(database_url, f"log check {uuid.uuid4().hex[:8]}")
    wrong_secret = f"wrong-{uuid.uuid4().hex}"
    unknown_key, unknown_secret = f"UNKNOWN{uuid.uuid4().hex[:12].upper()}", f"unknown-{uuid.uuid4().hex}"
    nul_key = f"NUL\x00{uuid.uuid4().hex[:8]}"  # once a 500 whose traceback (and SQL parameters) got logged
    log_path = tmp_path / "gunicorn.log"
    with gunicorn(database_url, log_path, args=("--access-logfile", "-")) as base:
        login = requests.get(f"{base}/auth.login", auth=(key, secret), timeout=10)
        assert login.status_code == 200, login.text
        token = login.json()["data"]["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        task = requests.post(f"{base}/tasks.create",
                             json={"name": f"t {uuid.uuid4().hex}", "type": "training"},
                             headers=bearer, timeout=10).json()["data"]["id"]
        calls = [
            requests.post(f"{base}/v2.1/tasks.get_by_id", json={"task": task}, auth=(key, secret),
                          timeout=10),
            requests.post(f"{base}/tasks.get_by_id", json={"task": task}, headers=bearer, timeout=10),
            requests.get(f"{base}/auth.login", headers=bearer, timeout=10),  # token renewal
            requests.get(f"{base}/auth.login", auth=(key, wrong_secret), timeout=10),
            requests.get(f"{base}/auth.login", auth=(unknown_key, unknown_secret), timeout=10),
            requests.get(f"{base}/auth.login", timeout=10,
                         headers={"Authorization":
                                  "Basic " + base64.b64encode(f"{nul_key}:{secret}".encode()).decode()}),
            requests.get(f"{base}/tasks.get_all", headers={"Authorization": f"Bearer {token}x"}, timeout=10),
            # credentials in the query string: not accepted, and not to be logged either
            requests.get(f"{base}/tasks.get_all?token={token}&access_key={key}&secret_key={secret}",
                         timeout=10),
            requests.get(f"{base}/tasks.get_by_id?task={task}&token={token}", headers=bearer, timeout=10),
            requests.get(f"{base}/tasks.get_all",
                         headers={"Referer": f"http://x/?secret_key={secret}", **bearer}, timeout=10),
        ]
        assert [c.status_code for c in calls] == [200, 200, 200, 401, 401, 401, 401, 401, 200, 200]
    text = log_path.read_text(errors="replace")
    assert ("/v2.1/tasks.get_by_id" in text
            and '"GET /auth.login HTTP/1.1" 401' in text)  # the access log is on
    for what, value in [("secret", secret), ("token", token), ("access key", key),
                        ("wrong secret", wrong_secret), ("unknown key", unknown_key),
                        ("unknown secret", unknown_secret),
                        ("NUL key", nul_key.split("\x00")[1]), ("token signature", token.rsplit(".", 1)[1]),
                        ("basic header", basic_auth(key, secret).split()[1])]:
        assert value not in text, f"the {what} is in the log"


def test_database_errors_never_show_bound_values(database_url):
    """A database error's text is logged and becomes a 500's message: SQLAlchemy adds the statement
    and, unless hide_parameters, every bound value (an access key, a secret's hash, user data)."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from events_service.db.session import make_engine

    engine = make_engine(database_url, pool_size=1)
    value = f"secret-{uuid.uuid4().hex}"
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT CAST(:v AS text), 1 / 0"), {"v": value})
        raise AssertionError("the cast should have failed")
    except DBAPIError as exc:
        assert "division by zero" in str(exc) and "CAST" in str(exc)
        assert value not in str(exc)
    finally:
        engine.dispose()
