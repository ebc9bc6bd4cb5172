"""Endpoint handlers, one module per schema service (explicit list, no directory globbing)."""
MODULES = (
    "events_service.services.events",
    "events_service.services.scalars",
    "events_service.services.logs",
    "events_service.services.plots",
    "events_service.services.debug_images",
    "events_service.services.delete",
    "events_service.services.auth",
    "events_service.services.projects",
    "events_service.services.tasks",
    "events_service.services.task_sections",
    "events_service.services.single_values",
    "events_service.services.models",
)
