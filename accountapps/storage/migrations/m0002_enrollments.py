"""Enrollments in digital banking: the ``enrollment`` table and its indexes.

Idempotent (``safe=True`` is ``IF NOT EXISTS``), as every migration after
``m0001`` must be: a database created from the current models already has it.
"""

from peewee import Database

from accountapps.storage.models import Enrollment


def upgrade(db: Database) -> None:
    db.create_tables([Enrollment], safe=True)
