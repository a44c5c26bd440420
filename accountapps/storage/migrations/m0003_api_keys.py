"""Issued API keys (hashed), managed with ``flask --app wsgi api-keys``."""

from peewee import Database

from accountapps.storage.models import ApiKey


def upgrade(db: Database) -> None:
    # ``safe``: idempotent against a schema that already has the table.
    db.create_tables([ApiKey], safe=True)
