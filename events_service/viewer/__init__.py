"""The pages for people: a Flask blueprint with its templates and static files.

Sign-in with an access/secret key pair (signin.py), then pages (pages.py) that draw what a task
recorded, fed by JSON data calls (data.py) that call the same services/ handlers and
db/queries/ functions as the API, never the API over HTTP, scoped to the signed-in company. They
only read. Charts are drawn by Plotly.js, served from the `plotly` Python package (no build step).
"""
from __future__ import annotations

from flask import Blueprint, Flask, Response

blueprint = Blueprint("viewer", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/ui/static")


@blueprint.after_request
def _headers(response: Response) -> Response:
    """No other site may frame the pages or make the browser guess a data call's type."""
    response.headers.setdefault("X-Frame-Options", "DENY")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


def init_app(app: Flask) -> None:
    """Register the pages; before the API's catch-all rule, so `/` is the viewer's home page."""
    from events_service.viewer import data, pages  # noqa: F401  (their routes join the blueprint)

    app.register_blueprint(blueprint)
