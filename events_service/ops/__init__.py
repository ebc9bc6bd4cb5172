"""Operations: /health, /ready and /metrics (routes.py), the per-request metrics and JSON log line
(requests.py), the metric definitions (metrics.py). A package of its own, so that the API layer
knows nothing of it: the API only leaves its `Call` on flask.g, which the request hooks read."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from events_service.ops import requests, routes  # here: db/session.py imports ops.metrics

    requests.init_app(app)
    routes.migration_heads()  # read migrations/ now, not in the first /ready
    app.register_blueprint(routes.blueprint)  # static rules: they win over the API's catch-all route
