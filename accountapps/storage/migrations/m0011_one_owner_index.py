"""One index for a user's applications instead of two (issue 8).

``(owner, created_at)`` and ``(owner, state, created_at)`` served the same
pages: ``(owner, created_at, state)`` walks a user's applications newest first
and filters or counts by state inside the index. Every write of an application
touched both; now one. Idempotent: m0001 already creates the new index on a
new database, and the old ones are dropped only if present.
"""

from peewee import Database

from accountapps.storage.models import Application


def upgrade(db: Database) -> None:
    Application._schema.create_indexes(safe=True)
    for name in ("application_owner_created_at", "application_owner_state_created_at"):
        db.execute_sql(f'DROP INDEX IF EXISTS "{name}"')
