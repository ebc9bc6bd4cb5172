"""Endpoint handlers, one module per schema service (explicit list, no directory globbing)."""
MODULES = ("events_service.services.events", "events_service.services.scalars")
