"""Indexes for the collection queries (issue 8): counts and sorted pages by state.

Idempotent (``IF NOT EXISTS``): m0001 already creates them on a new database.
"""

from peewee import Database

from accountapps.storage.models import Application


def upgrade(db: Database) -> None:
    Application._schema.create_indexes(safe=True)
