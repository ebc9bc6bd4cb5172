"""The API layer: schema loading, handler registry, routing and the envelope."""
from __future__ import annotations

import importlib

from flask import Flask

from events_service.api import registry
from events_service.api.schema import ApiSchema


def init_app(app: Flask) -> None:
    """Load schema/, import the service modules, check every handler has a schema entry."""
    from events_service.services import MODULES

    for module in MODULES:
        importlib.import_module(module)
    api = ApiSchema(app.config["SCHEMA_DIR"])
    registry.check_against_schema(api.endpoints)
    app.extensions["api_schema"] = api
    from events_service.api import openapi
    from events_service.api.routes import blueprint

    app.register_blueprint(openapi.blueprint)  # a static rule: wins over the catch-all route
    app.register_blueprint(blueprint)
