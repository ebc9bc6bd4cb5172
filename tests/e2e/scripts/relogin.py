"""Token expiry and the SDK's re-login, with the SDK's own session (clearml.conf asks for short tokens:
api.auth.req_token_expiration_sec, sent as auth.login?expiration_sec=N). Writes the outcome to OUT_JSON.

1. Expiry: the SDK logs in again by itself once its token is within the refresh threshold of `exp`.
2. 401: the token is replaced by one the server refuses (forged signature, far expiry). The call
   gets 401 and the SDK logs in again at once; clearml 2.1.12 resends that one call with the
   stale header it had already built (so it fails again), and the calls after it succeed.

    relogin.py OUT_JSON
"""
import json
import sys
import time

import jwt
from clearml.backend_api.session.client import APIClient, APIError

client = APIClient(api_version="2.9")
session = client.session
result = {}

first = session.token
claims = jwt.decode(first, options={"verify_signature": False})
result["lifetime"] = claims["exp"] - claims["iat"]
time.sleep(max(0, claims["exp"] - session.token_expiration_threshold_sec - time.time()) + 1.5)
result["expired_call"] = [t.id for t in client.tasks.get_all(id=["none"], only_fields=["id"])]
result["renewed"] = session.raw_token != first

forged = jwt.encode({**claims, "exp": int(time.time()) + 10 * 24 * 3600}, "not the server's key",
                    algorithm="HS256")
session._set_token(forged)
try:
    client.tasks.get_all(id=["none"], only_fields=["id"])
    result["refused_call"] = "ok"
except APIError as exc:
    result["refused_call"] = f"{exc.code}/{exc.subcode}"
result["replaced_forged"] = session.raw_token != forged
result["next_call"] = [t.id for t in client.tasks.get_all(id=["none"], only_fields=["id"])]
with open(sys.argv[1], "w") as out:
    json.dump(result, out)
