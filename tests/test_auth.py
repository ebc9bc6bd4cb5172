"""Authentication: auth.login, Bearer and Basic on every endpoint, 401 with ClearML's subcodes,
never a 500."""
from __future__ import annotations

import base64
import io
import time

import jwt
import pytest

from events_service import auth, errors
from tests.conftest import SECRET, make_credentials
from tests.helpers import basic_auth, scalar


def login(anonymous, access_key, secret_key, query=""):
    return anonymous.get(f"/auth.login{query}", headers={"Authorization": basic_auth(access_key, secret_key)})


def test_login_returns_a_jwt_the_sdk_accepts(anonymous, credentials, api):
    response = login(anonymous, *credentials)
    data = api.check_ok(response)
    claims = jwt.decode(data["token"], options={"verify_signature": False})  # as the SDK reads it
    assert claims["api_version"] == "2.20"
    assert claims["feature_set"] == "basic"
    assert claims["identity"]["company"]
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600
    assert response.get_json()["meta"]["endpoint"]["name"] == "auth.login"


@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_login_by_any_method_and_expiration_sec(anonymous, credentials, method, api):
    response = anonymous.open("/auth.login?expiration_sec=120", method=method,
                              headers={"Authorization": basic_auth(*credentials)})
    claims = jwt.decode(api.check_ok(response)["token"], options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 120


def test_expiration_is_capped(anonymous, credentials, api):
    claims = jwt.decode(api.check_ok(login(anonymous, *credentials, "?expiration_sec=999999999"))["token"],
                        options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 30 * 24 * 3600


def test_the_token_authenticates_other_calls(anonymous, credentials, api, task_id):
    token = api.check_ok(login(anonymous, *credentials))["token"]
    api.add_batch([scalar(task_id, 1)], headers={"Authorization": f"Bearer {token}"})
    response = anonymous.post("/events.get_task_events", json={"task": task_id},
                              headers={"Authorization": f"Bearer {token}"})
    assert api.check_ok(response)["total"] == 1


def test_basic_credentials_work_on_any_endpoint(anonymous, credentials, api, task_id):
    api.add_batch([scalar(task_id, 1)], headers={"Authorization": basic_auth(*credentials)})
    response = anonymous.post("/events.get_task_events", json={"task": task_id},
                              headers={"Authorization": basic_auth(*credentials)})
    assert api.check_ok(response)["total"] == 1


def test_a_bearer_token_renews_itself_at_login(anonymous, credentials, api):
    token = api.check_ok(login(anonymous, *credentials))["token"]
    renewed = api.check_ok(anonymous.get("/auth.login",
                                         headers={"Authorization": f"Bearer {token}"}))["token"]
    assert jwt.decode(renewed, options={"verify_signature": False})["identity"] == \
        jwt.decode(token, options={"verify_signature": False})["identity"]


def expired_token(credentials) -> str:
    claims = jwt.decode(auth.issue_token(auth.Identity("c", "u"), SECRET, 60),
                        options={"verify_signature": False})
    identity = auth.Identity(claims["identity"]["company"], claims["identity"]["user"])
    return auth.issue_token(identity, SECRET, ttl_sec=10, now=time.time() - 3600)


def forged_token() -> str:
    return auth.issue_token(auth.Identity("d1bd92a3b039400cbafc60a7a5b1e52b", "me"),
                            "not-the-server-secret", 600)


@pytest.mark.parametrize("header,subcode", [
    (None, 20),
    ("", 20),
    ("Bearer", 20),
    ("Token abc", 10),
    ("Basic !!!not-base64!!!", 21),
    ("Basic " + base64.b64encode(b"no-colon").decode(), 21),
    ("Basic " + base64.b64encode(b"\xff\xfe:x").decode(), 21),
    ("Basic " + base64.b64encode(b"UNKNOWNKEY:secret").decode(), 22),
    # was a 500 (NUL sent to PostgreSQL)
    ("Basic " + base64.b64encode(b"UNKNOWN\x00KEY:secret").decode(), 22),
    ("Basic " + base64.b64encode(b"UNKNOWNKEY:sec\x00ret").decode(), 22),
    ("Basic " + base64.b64encode("ÜNKNÖWN🔑:sëcret".encode()).decode(), 22),
    ("Basic " + base64.b64encode(b"K" * 100_000 + b":secret").decode(), 22),
    ("Bearer not.a.jwt", 30),
    ("Bearer abc", 30),
    ("forged", 30),
    ("expired", 30),
])
@pytest.mark.parametrize("path", ["/events.get_task_events", "/v2.9/tasks.get_all", "/auth.login",
                                  "/v2.1/events.add_batch"])
def test_bad_credentials_are_401_with_clearml_subcodes(anonymous, api, credentials, header, subcode, path):
    if header == "forged":
        header = f"Bearer {forged_token()}"
    elif header == "expired":
        header = f"Bearer {expired_token(credentials)}"
    headers = {} if header is None else {"Authorization": header}
    response = anonymous.post(path, json={"task": "x"}, headers=headers)
    code, sub, msg = api.check_error(response)
    assert (code, sub) == (401, subcode), msg
    assert response.status_code == 401


def test_a_token_for_an_unknown_company_is_refused(anonymous, api, db):
    token = auth.issue_token(auth.Identity("no-such-company", "u"), SECRET, 600)
    response = anonymous.post("/tasks.get_all", json={}, headers={"Authorization": f"Bearer {token}"})
    assert api.check_error(response) == (401, 30, "Invalid token (unknown company)")
    assert db.execute("SELECT count(*) FROM companies WHERE id = 'no-such-company'").fetchone()[0] == 0


def test_wrong_secret_is_invalid_credentials(anonymous, credentials, api):
    code, sub, msg = api.check_error(login(anonymous, credentials[0], credentials[1] + "x"))
    assert (code, sub, msg) == (401, 22, "Unauthorized (invalid credentials)")


def test_expired_token_says_so(anonymous, credentials, api):
    response = anonymous.post("/events.get_task_events", json={"task": "x"},
                              headers={"Authorization": f"Bearer {expired_token(credentials)}"})
    assert api.check_error(response) == (401, 30, "Invalid token (token expired)")


def test_authentication_comes_before_validation(anonymous, api):
    response = anonymous.post("/events.get_task_events", json={})  # would be 400/11 when authenticated
    assert api.check_error(response)[:2] == (401, 20)


def test_options_preflight_needs_no_credentials(anonymous):
    assert anonymous.options("/events.add").status_code == 200


def test_unknown_endpoint_is_404_before_auth(anonymous, api):
    assert api.check_error(anonymous.post("/events.nope", json={}))[:2] == (404, 0)


def test_revoked_key_cannot_log_in(anonymous, database_url, api):
    from events_service.cli import main

    key, secret = make_credentials(database_url, "revocation")
    api.check_ok(login(anonymous, key, secret))
    assert main(["--database-url", database_url, "credentials", "revoke", key], out=io.StringIO()) == 0
    assert api.check_error(login(anonymous, key, secret))[:2] == (401, 22)


def test_secrets_are_stored_hashed(db, credentials):
    stored = db.execute("SELECT secret_hash FROM credentials WHERE access_key = %s",
                        (credentials[0],)).fetchone()[0]
    assert credentials[1] not in stored
    assert stored.startswith("sha256$")
    assert auth.verify_secret(credentials[1], stored)
    assert not auth.verify_secret(credentials[1] + "x", stored)
    assert not auth.verify_secret(credentials[1], None)


def test_token_reading_unit():
    identity = auth.Identity("company-1", "user-1", "alice", "acme")
    token = auth.issue_token(identity, "k" * 16, ttl_sec=100, now=1000)
    assert auth.read_token(token, "k" * 16, now=1050) == identity
    with pytest.raises(errors.InvalidToken, match="expired"):
        auth.read_token(token, "k" * 16, now=1100)
    with pytest.raises(errors.InvalidToken):
        auth.read_token(token, "other", now=1050)
    unsigned = jwt.encode({"identity": {"company": "x"}, "exp": 2000, "iat": 1000}, "", algorithm="none")
    with pytest.raises(errors.InvalidToken):
        auth.read_token(unsigned, "k" * 16, now=1050)


def test_unknown_key_and_wrong_secret_answer_alike(anonymous, credentials, database_url, api):
    """Bad credentials do not tell whether the access key exists: the same status, code, subcode,
    message and headers for an unknown key, a known key with a wrong secret, and a revoked key."""
    from events_service.cli import main

    revoked, revoked_secret = make_credentials(database_url, "revoked alike")
    assert main(["--database-url", database_url, "credentials", "revoke", revoked], out=io.StringIO()) == 0
    answers = []
    for key, secret in [(credentials[0], credentials[1] + "x"), ("UNKNOWNKEY0000000000000", credentials[1]),
                        (revoked, revoked_secret)]:
        for path in ("/auth.login", "/v2.9/tasks.get_all"):
            response = anonymous.post(path, json={}, headers={"Authorization": basic_auth(key, secret)})
            meta = response.get_json()["meta"]
            answers.append((response.status_code, meta["result_code"], meta["result_subcode"],
                            meta["result_msg"], meta["error_data"], meta["error_stack"],
                            response.headers.get("WWW-Authenticate")))
    assert answers[0][:4] == (401, 401, 22, "Unauthorized (invalid credentials)")
    assert (all(answer == answers[0] for answer in answers[0::2])
            and all(a == answers[1] for a in answers[1::2]))


def test_unknown_key_and_wrong_secret_cost_one_hash_each(anonymous, credentials, api, monkeypatch):
    hashed = []
    real = auth.hash_secret
    monkeypatch.setattr(auth, "hash_secret",
                        lambda secret, salt=None: hashed.append(secret) or real(secret, salt))
    api.check_error(login(anonymous, credentials[0], "wrong-secret"))
    assert hashed == ["wrong-secret"]
    api.check_error(login(anonymous, "UNKNOWNKEY0000000000000", "other-secret"))
    assert hashed == ["wrong-secret", "other-secret"]


def test_unknown_key_and_wrong_secret_take_about_as_long(anonymous, credentials, api):
    """No timing oracle either: both look the key up once and hash once. Medians of interleaved
    runs, with a loose bound (the machine is shared): a gross difference, such as a slow hash on
    one path only, would be many times over it."""
    def median_ms(key: str, secret: str) -> float:
        header = {"Authorization": basic_auth(key, secret)}
        times = []
        for _ in range(25):
            start = time.perf_counter()
            response = anonymous.post("/auth.login", json={}, headers=header)
            times.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 401
        return sorted(times)[len(times) // 2]

    medians = {"wrong": [], "unknown": []}
    for _ in range(3):
        medians["wrong"].append(median_ms(credentials[0], credentials[1] + "x"))
        medians["unknown"].append(median_ms("UNKNOWNKEY0000000000000", credentials[1]))
    wrong, unknown = min(medians["wrong"]), min(medians["unknown"])
    assert max(wrong, unknown) < 2 * min(wrong, unknown) + 1, medians
