"""The one blueprint: /<service>.<action> and /v<major.minor>/<service>.<action>, any method."""
from __future__ import annotations

import logging
import math
import re
import traceback
import uuid
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, current_app, g, request
from jsonschema.exceptions import best_match
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from events_service import auth, errors
from events_service.api import body, envelope
from events_service.api.call import Call
from events_service.api.registry import HANDLERS
from events_service.api.stream import Attachment
from events_service.api.schema import INT64_MAX, INT64_MIN, ApiSchema, EndpointSchema
from events_service.api.versions import Version
from events_service.db import session as db_session
from events_service.db.queries import credentials, tenants
from events_service import jsonutil

log = logging.getLogger(__name__)
blueprint = Blueprint("api", __name__)

PATH = re.compile(r"^/?(?:v(?P<version>\d+\.?\d+)/)?(?P<name>[A-Za-z_]\w+\.[A-Za-z_]\w+)/?$")
METHODS = ["GET", "POST", "PUT", "OPTIONS"]


def _new_call() -> Call:
    call_id = uuid.uuid4().hex
    trx = request.headers.get("X-ClearML-Trx") or request.headers.get("X-Trains-Trx") or call_id
    worker = request.headers.get("X-ClearML-Worker") or request.headers.get("X-Trains-Worker") or "<unknown>"
    return Call(id=call_id, trx=trx, worker=worker, config=current_app.config)


def _json_response(payload: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    """The body at once, or as it is written when it holds a jsonutil.StreamedJSON."""
    return Response(jsonutil.streamed(payload), status=status, headers=headers, mimetype="application/json")


SAFE_FILENAME = re.compile(r"^[A-Za-z0-9._-]+$")


def content_disposition(filename: str) -> str:
    """`attachment; filename=...` that any client reads and no name can break: a file name comes
    from a task id, which may hold CR/LF (header injection; werkzeug refused it with a 500), quotes
    or non-Latin-1 text (gunicorn could not encode the header: a bare HTML 500). Such a name is
    sent as an ASCII stand-in plus RFC 6266's UTF-8 `filename*`."""
    if SAFE_FILENAME.match(filename):
        return f"attachment; filename={filename}"
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", filename)
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def _attachment_response(attachment: Attachment) -> Response:
    """A streamed download: no envelope, the body comes chunk by chunk from the attachment."""
    headers = {"Content-Disposition": content_disposition(attachment.filename),
               "Cache-Control": "no-store, max-age=0", **attachment.headers}
    return Response(attachment.chunks, status=200, headers=headers, mimetype=attachment.mimetype,
                    direct_passthrough=True)


def _resolve(path: str, call: Call) -> EndpointSchema:
    match = PATH.match(path)
    if not match:
        raise errors.RawBadRequest(f"Invalid request path /{path}")
    call.name = match["name"]
    if match["version"] is not None:
        try:
            call.requested_version = Version.parse(match["version"])
        except ValueError as exc:
            raise errors.InvalidVersion(version=match["version"], reason=str(exc))
    api: ApiSchema = current_app.extensions["api_schema"]
    schema = api.resolve(call.name, call.requested_version)
    if schema is None or (call.name, schema.version) not in HANDLERS:
        shown = call.requested_version or "latest"
        raise errors.EndpointNotFound(call.name, str(shown))
    if call.requested_version is None:
        call.requested_version = max(api.endpoints[call.name])
    call.actual_version = schema.version
    return schema


def _read_body(schema: EndpointSchema, call: Call) -> dict[str, Any]:
    limit = current_app.config["MAX_BODY_BYTES"]
    if (request.content_length or 0) > limit:
        raise errors.RequestTooLarge(limit=limit)
    # At most one byte past the limit is read: a chunked body has no Content-Length, and reading
    # it whole first let any client fill the worker's memory before the size was checked.
    raw = body.read_at_most(request.stream, limit + 1)
    if len(raw) > limit:
        raise errors.RequestTooLarge(limit=limit)
    if request.mimetype == body.JSON_LINES:
        items = body.parse_json_lines(raw)
        if schema.is_batch:
            call.batch = items
        return {}
    data = body.parse_object(raw)
    if not data:
        typed_by = schema.request_validator.schema
        data = (body.query_fields(request.args.lists(), typed_by)
                or body.query_fields(request.form.lists(), typed_by))
    if schema.is_batch:
        call.batch = [data] if data else []
    return data


def validate_request(schema: EndpointSchema, data: dict[str, Any]) -> dict[str, Any]:
    """Schema validation: 400/11 for missing required fields, 400/12 naming the field otherwise.

    An optional field sent as null is absent; integral floats in integer places become integers
    (schema.RequestValidator), so handlers see the types the schema names.
    """
    data = {key: value for key, value in data.items()
            if value is not None or key not in schema.null_is_absent}
    problem = body.unstorable(data)  # first: a number no value holds would fail the schema vaguely
    if problem is not None:
        raise errors.ValidationError(problem)
    errs = list(schema.request_validator.iter_errors(data))
    if errs:
        missing = [e.message.split("'")[1] for e in errs if e.validator == "required" and not e.path]
        if missing:
            raise errors.MissingRequiredFields(missing=missing)
        raise errors.ValidationError(describe(best_match(errs)))
    where = body.non_finite_path(data)
    if where is not None:
        raise errors.ValidationError(f"field '{where}': NaN and Infinity are not allowed")
    return {**schema.defaults, **data}


def describe(error: Any) -> str:
    """A jsonschema error as one line that names the field."""
    where = ".".join(str(p) for p in error.absolute_path)
    message = error.message
    if _out_of_int64(error):
        message = (f"{_shown(error.instance)} is out of range "
                   f"(a 64-bit integer is expected: {INT64_MIN} to {INT64_MAX})")
    elif _beyond_double(error):
        message = f"{_shown(error.instance)} is out of range (beyond a double)"
    elif error.validator == "maxLength":  # jsonschema would repeat the whole (long) value
        message = f"longer than {error.validator_value} characters"
    return f"field '{where}': {message}" if where else message


def _shown(value: Any) -> str:
    """repr of a value, its middle left out when long (an integer may have thousands of digits)."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]}"


def _out_of_int64(error: Any) -> bool:
    """A type error only because an integral number does not fit 64 bits (see RequestValidator)."""
    types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    value = error.instance
    integral = type(value) is int or (type(value) is float and math.isfinite(value) and value.is_integer())
    return error.validator == "type" and "integer" in types and integral


def _beyond_double(error: Any) -> bool:
    """A type error only because an integer is too large for a double (see RequestValidator)."""
    types = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
    return error.validator == "type" and "number" in types and type(error.instance) is int


def _check_response(schema: EndpointSchema, result: Any) -> None:
    if not current_app.config["VALIDATE_RESPONSES"] or isinstance(result, Attachment):
        return
    errs = list(schema.response_validator.iter_errors(jsonutil.as_sent(result)))
    if errs:
        raise errors.InternalError(f"response does not match the {schema.name} {schema.version} schema: "
                                   f"{describe(best_match(errs))}")


def _authenticate(call: Call) -> None:
    """Who calls, from a Bearer token (no lookup) or Basic credentials (one lookup); 401 otherwise.

    Every endpoint requires it, auth.login included (Basic there; a Bearer token renews itself).
    The company of the identity scopes everything the handler reads or writes.
    """
    kind, first, second = auth.parse_authorization(request.headers.get("Authorization"))
    if kind == "bearer":
        identity, company_key = check_token(first)
    else:
        identity, company_key = check_key_pair(call.db, first, second)
    call.identity, call.company_id, call.company_key = identity, identity.company_id, company_key


def check_token(token: str) -> tuple[auth.Identity, int]:
    """The identity and company key a signed token carries (no credentials lookup); 401 otherwise.
    Also the viewer's session cookie (events_service.viewer.signin)."""
    identity = auth.read_token(token, current_app.config["SECRET_KEY"])
    company_key = tenants.existing_company_key(db_session.engine(), identity.company_id)
    if company_key is None:
        raise errors.InvalidToken("unknown company")
    return identity, company_key


def check_key_pair(session: Any, access_key: str, secret: str) -> tuple[auth.Identity, int]:
    """The identity and company key of an active key pair; 401 otherwise, one hash spent either way.
    Also the viewer's sign-in form (events_service.viewer.signin)."""
    # An access key with NUL cannot exist (nor be sent to PostgreSQL): answered as unknown.
    found = credentials.active(session, access_key) if "\x00" not in access_key else None
    if not auth.verify_secret(secret, found.secret_hash if found else None) or found is None:
        raise errors.InvalidCredentials()
    identity = auth.Identity(found.company_id, found.user_id, found.user_name, found.company_name)
    return identity, found.company_key


def authenticated_call() -> Call:
    """A Call for a request served outside the API blueprint (the files store), authenticated the same
    way as every endpoint (401 otherwise); its session reads in autocommit."""
    call = g.call = _new_call()
    call.session = db_session.get(autocommit=True)
    _authenticate(call)
    return call


@blueprint.route("/", defaults={"path": ""}, methods=METHODS)
@blueprint.route("/<path:path>", methods=METHODS)
def dispatch(path: str) -> Response:
    if request.method == "OPTIONS":  # CORS pre-flight: 200 with an empty body, for any path
        return Response(status=200)
    call = g.call = _new_call()
    schema = _resolve(path, call)
    handler = HANDLERS[(call.name, schema.version)]
    call.api = current_app.extensions["api_schema"]
    session = call.session = db_session.get(autocommit=handler.reads_only)
    try:
        _authenticate(call)
        data = _read_body(schema, call)
        if not handler.validates_itself:
            data = validate_request(schema, data)
        result = handler(call, data)
        _check_response(schema, result)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    if isinstance(result, Attachment):
        return _attachment_response(result)
    return _json_response(envelope.build(call, result), 200)


@blueprint.app_errorhandler(errors.ApiError)
def api_error(error: errors.ApiError) -> Response:
    return _json_response(envelope.build(g.get("call"), error=error), error.code, dict(error.headers))


@blueprint.app_errorhandler(OperationalError)
def database_unavailable(error: OperationalError) -> Response:
    sqlstate = getattr(error.orig, "sqlstate", None) or ""
    if sqlstate.startswith("54"):  # program_limit_exceeded: the input is too big, retrying cannot help
        log.warning("value too large for the database: %s", str(error.orig).splitlines()[0])
        return api_error(errors.ValidationError("a value is too large for the database to index or store"))
    log.warning("database unavailable: %s", str(error).splitlines()[0])
    return api_error(errors.DatabaseUnavailable())


@blueprint.app_errorhandler(Exception)
def unexpected(error: Exception) -> Response:
    if isinstance(error, HTTPException):
        http_error = errors.RawBadRequest(error.description)
        http_error.code = error.code or 400
        return api_error(http_error)
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return database_unavailable(error)  # type: ignore[arg-type]
    log.exception("unhandled error in %s", g.get("call") and g.call.name)
    # The details (an exception's text can hold SQL, paths or user data) go to the log; the caller
    # gets them only where RETURN_STACK says the server is being debugged.
    debugging = current_app.config["RETURN_STACK"]
    stack = traceback.format_exc() if debugging else None
    wrapped = errors.InternalError(f"{type(error).__name__}: {error}" if debugging else type(error).__name__)
    return _json_response(envelope.build(g.get("call"), error=wrapped, error_stack=stack), 500)
