"""How the pages and data calls answer bad input: a page with a message, or JSON with a 4xx.

Never a bare 500 or a blank page: the API's errors (unknown task 400/101, bad fields 400/12)
keep their message; an unknown or other company's task or project is a 404, as if it did not
exist; anything unexpected is logged and shown as a short message.
"""
from __future__ import annotations

import logging

from flask import Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from events_service import errors
from events_service.viewer import blueprint

log = logging.getLogger(__name__)
NOT_FOUND = (errors.InvalidTaskId, errors.InvalidProjectId)


class NotFound(Exception):
    """A page or data call about something the signed-in company does not have."""


class BadInput(Exception):
    """A malformed parameter of a page or data call (400 with this message)."""


def _answer(status: int, message: str) -> Response:
    if request.path.startswith("/ui/data/"):
        response = jsonify({"error": message})
        response.status_code = status
        return response
    return Response(render_template("viewer/error.html", status=status, message=message), status=status)


@blueprint.errorhandler(Exception)
def any_error(error: Exception) -> Response:
    if isinstance(error, NotFound) or isinstance(error, NOT_FOUND):
        return _answer(404, str(error) if isinstance(error, NotFound) else "No such task or project")
    if isinstance(error, BadInput):
        return _answer(400, str(error))
    if isinstance(error, errors.ApiError):
        return _answer(error.code if 400 <= error.code < 500 else 500, error.message)
    if isinstance(error, HTTPException):
        return _answer(error.code or 400, error.description or error.name)
    log.exception("viewer: unexpected error on %s", request.path)
    return _answer(500, f"Internal error ({type(error).__name__}); the server log has the details")
