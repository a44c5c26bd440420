"""WSGI entry point: ``gunicorn wsgi:app`` serves the API."""

from accountapps import create_app

app = create_app()
