"""Decisions and what they saw; review flags that outlive a deleted enrollment (issue 21).

* ``audit_record.decision``: the record of an approval or rejection keeps, as
  JSON, a snapshot of what the decision saw and the institution's tasks it
  waived. The trail stays append-only (the triggers of ``m0001``).
* ``review_flag``: per owner, the ``flaggedForReview`` of their latest deleted
  enrollment, which their next enrollment inherits.

Idempotent: m0001 already creates the column on a new database, and the table
is created only if missing.
"""

from peewee import Database

from accountapps.storage.models import AuditRecord, ReviewFlag


def upgrade(db: Database) -> None:
    table = AuditRecord._meta.table_name
    if "decision" not in {column.name for column in db.get_columns(table)}:
        db.execute_sql(f'ALTER TABLE "{table}" ADD COLUMN "decision" TEXT')
    db.create_tables([ReviewFlag], safe=True)
