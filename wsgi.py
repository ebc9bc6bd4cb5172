"""WSGI entry point: gunicorn wsgi:app."""
from events_service import create_app

app = create_app()
