"""The ClearML error catalogue: one ApiError type with code, subcode and message."""
from __future__ import annotations

from typing import Any


def _render(value: Any) -> str:
    if isinstance(value, (list, tuple, set, frozenset)):
        return "(" + ", ".join(str(v) for v in value) + ")"
    return str(value)


class ApiError(Exception):
    """An error answered in the ClearML envelope: HTTP status = code."""

    code = 500
    subcode = 0
    msg = "Internal server error"
    headers: dict[str, str] = {}

    def __init__(self, extra_msg: str | None = None, **data: Any):
        self.extra_msg = extra_msg
        self.data = data
        super().__init__(self.message)

    @property
    def message(self) -> str:
        text = self.msg
        if self.extra_msg:
            text += f" ({self.extra_msg})"
        if self.data:
            text += ": " + ", ".join(f"{k}={_render(v)}" for k, v in self.data.items())
        return text


class RawBadRequest(ApiError):
    """400/0 whose message is the raw detail (path and body parsing, as ClearML does)."""

    code, subcode = 400, 0

    @property
    def message(self) -> str:
        return self.extra_msg or "Bad request"


class BadRequest(ApiError):
    code, subcode, msg = 400, 0, "Bad request"


class InvalidVersion(ApiError):
    code, subcode, msg = 400, 2, "Request path has invalid version"


class MissingRequiredFields(ApiError):
    code, subcode, msg = 400, 11, "Missing required fields"


class ValidationError(ApiError):
    code, subcode, msg = 400, 12, "Validation error"


class FieldsValueError(ApiError):
    code, subcode, msg = 400, 16, "Invalid value for fields"


class BatchContainsNoItems(ApiError):
    code, subcode, msg = 400, 17, "Batch request contains no items"


class InvalidTaskId(ApiError):
    code, subcode, msg = 400, 101, "Invalid task id"


class InvalidTaskStatus(ApiError):
    code, subcode, msg = 400, 110, "Invalid task status"


class InvalidRegex(ApiError):
    code, subcode, msg = 400, 21, "Malformed regular expression"


class InvalidModelId(ApiError):
    code, subcode, msg = 400, 200, "Invalid model id"


class ModelIsReady(ApiError):
    code, subcode, msg = 400, 202, "Model is ready"


class InvalidProjectId(ApiError):
    code, subcode, msg = 400, 401, "Invalid project id"


class InvalidProjectName(ApiError):
    code, subcode, msg = 400, 407, "Invalid project name"


class ExpectedUniqueData(ApiError):
    code, subcode, msg = 400, 801, "Value combination already exists"


class EventsNotAdded(ApiError):
    code, subcode, msg = 400, 131, "Events not added"


class InvalidScrollId(ApiError):
    code, subcode, msg = 400, 1104, "Invalid scroll id"


class Unauthorized(ApiError):
    """401: the SDK logs in again (once) and resends; every subclass keeps ClearML's subcode."""

    code, subcode, msg = 401, 0, "Unauthorized"


class BadAuthType(Unauthorized):
    subcode, msg = 10, "Unauthorized (bad authentication header type)"


class NoCredentials(Unauthorized):
    subcode, msg = 20, "Unauthorized (missing credentials)"


class BadCredentials(Unauthorized):
    subcode, msg = 21, "Unauthorized (malformed credentials)"


class InvalidCredentials(Unauthorized):
    subcode, msg = 22, "Unauthorized (invalid credentials)"


class InvalidToken(Unauthorized):
    subcode, msg = 30, "Invalid token"


class EndpointNotFound(ApiError):
    code, subcode, msg = 404, 0, "Unable to find endpoint"

    def __init__(self, name: str, version: str):
        self.name, self.version = name, version
        super().__init__()

    @property
    def message(self) -> str:
        return f"Unable to find endpoint for name {self.name} and version {self.version}"


class FileNotFound(ApiError):
    code, subcode, msg = 404, 1, "File not found"


class LengthRequired(ApiError):
    code, subcode, msg = 411, 0, "Content-Length required"


class RequestTooLarge(ApiError):
    code, subcode, msg = 413, 0, "Request body too large"


class InternalError(ApiError):
    code, subcode, msg = 500, 0, "Internal server error"


class DataError(ApiError):
    code, subcode, msg = 500, 100, "General data error"


class DatabaseUnavailable(ApiError):
    """503 with Retry-After: the SDK retries these (and only these) forever."""

    code, subcode, msg = 503, 0, "Service unavailable (database unreachable, retry later)"
    headers = {"Retry-After": "5"}


CATALOGUE = [
    BadRequest, InvalidVersion, MissingRequiredFields, ValidationError, FieldsValueError,
    BatchContainsNoItems, InvalidTaskId, InvalidTaskStatus, InvalidRegex, InvalidProjectId,
    InvalidProjectName, ExpectedUniqueData, EventsNotAdded, InvalidScrollId, BadAuthType, NoCredentials,
    BadCredentials,
    InvalidCredentials, InvalidToken, EndpointNotFound,
    RequestTooLarge, InternalError, DataError, DatabaseUnavailable,
]
