"""Widen ``workflow_state`` to 32 characters (``waitingForInstitution`` and co.).

SQLite does not enforce VARCHAR lengths; PostgreSQL does. Idempotent: altering
a column to the type it already has is a no-op.
"""

from peewee import Database

from accountapps.storage.db import is_postgres


def upgrade(db: Database) -> None:
    if not is_postgres():
        return
    for table in ("application", "enrollment"):
        if db.table_exists(table):
            db.execute_sql(
                f'ALTER TABLE "{table}" ALTER COLUMN workflow_state TYPE VARCHAR(32)')
