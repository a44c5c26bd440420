"""Stored answers of POSTs sent with an ``Idempotency-Key`` (issue 24)."""

from peewee import Database

from accountapps.storage.models import IdempotencyKey


def upgrade(db: Database) -> None:
    # ``safe``: idempotent against a schema that already has the table.
    db.create_tables([IdempotencyKey], safe=True)
