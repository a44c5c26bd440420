"""Initial schema: applications, their applicants, the audit trail.

The audit trail is made append-only by triggers, so that not even a bug in
this service (or a careless operator's UPDATE) can rewrite history.
"""

from peewee import Database

from accountapps.storage.db import is_postgres
from accountapps.storage.models import Application, ApplicationApplicant, AuditRecord


def upgrade(db: Database) -> None:
    db.create_tables([Application, ApplicationApplicant, AuditRecord])
    if is_postgres():
        db.execute_sql(
            "CREATE OR REPLACE FUNCTION audit_record_append_only() RETURNS trigger AS $$ "
            "BEGIN RAISE EXCEPTION 'audit records are append-only'; END; $$ LANGUAGE plpgsql"
        )
        db.execute_sql(
            "CREATE TRIGGER audit_record_append_only BEFORE UPDATE OR DELETE ON audit_record "
            "FOR EACH ROW EXECUTE FUNCTION audit_record_append_only()"
        )
    else:
        for event in ("UPDATE", "DELETE"):
            db.execute_sql(
                f"CREATE TRIGGER audit_record_no_{event.lower()} BEFORE {event} ON audit_record "
                "BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END"
            )
