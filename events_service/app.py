"""create_app: the only wiring function (config, logging, database, API)."""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask

from events_service import api, compaction, config, files, ops, viewer
from events_service.db import session


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Build the WSGI app; `test_config` overrides the environment (tests)."""
    app = Flask(__name__)
    app.config.update(config.load(test_config))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    session.init_app(app)
    viewer.init_app(app)  # the pages for people; before the API's catch-all rule
    api.init_app(app)
    files.init_app(app)
    ops.init_app(app)
    compaction.init_app(app)  # the periodic compaction pass of this process
    return app
