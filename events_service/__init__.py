"""events-service: a ClearML-compatible experiment events server."""
from events_service.app import create_app

__all__ = ["create_app"]
