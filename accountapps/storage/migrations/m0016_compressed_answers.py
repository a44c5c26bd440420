"""Stored answers compressed by the service (issue 24).

``idempotency_key.compressed``: the ``body`` is an LZ4 frame (rows from before
stay as they were, ``false``). On PostgreSQL the column's storage becomes
``EXTERNAL``: the server no longer tries its own compression on bytes that
are compressed already.

Idempotent: m0001 already creates the column on a new database.
"""

from peewee import Database

from accountapps.storage.db import is_postgres
from accountapps.storage.models import IdempotencyKey


def upgrade(db: Database) -> None:
    table = IdempotencyKey._meta.table_name
    if not db.table_exists(table):
        db.create_tables([IdempotencyKey], safe=True)
    if "compressed" not in {column.name for column in db.get_columns(table)}:
        db.execute_sql(
            f'ALTER TABLE "{table}" ADD COLUMN "compressed" BOOLEAN NOT NULL DEFAULT FALSE')
    if is_postgres():
        db.execute_sql(f'ALTER TABLE "{table}" ALTER COLUMN body SET STORAGE EXTERNAL')
