"""What the database itself guarantees, identically on SQLite and PostgreSQL.

The suite runs once per database (see tests/databases.py); these tests pin the
places where the two differ in SQL: case-insensitive LIKE, NULLS LAST, the
partial unique index, the append-only audit trigger, timestamp comparisons and
the migration lock.
"""

from __future__ import annotations

import pytest
from conftest import FUNDING
from peewee import DatabaseError, IntegrityError

from accountapps import create_app
from accountapps.storage import db, migrations
from accountapps.storage.models import Application, AuditRecord, SchemaVersion, utcnow


def names(response) -> list[str]:
    return [item["accountName"] for item in response.json["_embedded"]["items"]]


def test_text_search_is_case_insensitive(admin, make_applications):
    make_applications(1, accountName="Holiday SAVINGS")
    make_applications(1, prefix="b", accountName="Rainy day fund")
    response = admin.get("/applications?q=hOLIDAY")
    assert response.status_code == 200, response.json
    assert names(response) == ["Holiday SAVINGS"]


def test_like_wildcards_in_search_text_match_literally(admin, make_applications):
    make_applications(1, accountName="100% savings")
    make_applications(1, prefix="b", accountName="1000 savings")
    response = admin.get("/applications?filter=contains(accountName,'0%')")
    assert response.status_code == 200, response.json
    assert names(response) == ["100% savings"]


def test_underscore_in_search_text_matches_literally(admin, make_applications):
    make_applications(1, accountName="a_b")
    make_applications(1, prefix="b", accountName="axb")
    response = admin.get("/applications?q=a_b")
    assert names(response) == ["a_b"]


@pytest.mark.parametrize("sort", ["completedAt", "-completedAt"])
def test_missing_values_sort_last_in_both_directions(admin, make_applications, sort):
    made = make_applications(3)
    for app_doc in made[:2]:
        response = admin.post(f"/canceledApplications?application={app_doc['_id']}")
        assert response.status_code == 200, response.json
    response = admin.get(f"/applications?sortBy={sort}")
    states = [item["state"] for item in response.json["_embedded"]["items"]]
    assert states == ["canceled", "canceled", "running"]


def test_timestamp_filter_compares_instants(admin, make_applications):
    make_applications(2)
    def count(expression: str) -> int:
        response = admin.get("/applications", query_string={"filter": expression})
        assert response.status_code == 200, response.json
        return response.json["count"]

    assert count("gt(createdAt,'2000-01-01T00:00:00Z')") == 2
    assert count("lt(createdAt,'2999-01-01T00:00:00+02:00')") == 2
    assert count("gt(createdAt,'2999-01-01T00:00:00-02:00')") == 0


def test_database_refuses_a_second_application_in_progress(app, application):
    row = dict(Application.select().dicts().get())
    with app.app_context(), pytest.raises(IntegrityError), db.write_transaction():
        Application.insert({**row, "id": "00000000-0000-0000-0000-000000000001"}).execute()


def test_completed_application_frees_the_one_in_progress_slot(app, user, application,
                                                              create_body):
    assert user.post(f"/canceledApplications?application={application.json['_id']}"
                     ).status_code == 200
    assert user.post("/applications", create_body(**FUNDING)).status_code == 201


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_audit_records_are_append_only(app, admin, application, statement):
    admin.post(f"/canceledApplications?application={application.json['_id']}")
    with app.app_context():
        before = list(AuditRecord.select().order_by(AuditRecord.id).dicts())
        assert before
        query = (AuditRecord.update(reason="rewritten") if statement == "update"
                 else AuditRecord.delete())
        with pytest.raises(DatabaseError, match="append-only"), db.write_transaction():
            query.execute()
        assert list(AuditRecord.select().order_by(AuditRecord.id).dicts()) == before


def test_timestamps_round_trip_as_naive_utc(app, application):
    with app.app_context():
        row = Application.get()
        assert row.created_at.tzinfo is None
        assert abs((utcnow() - row.created_at).total_seconds()) < 60
        assert Application.select().where(Application.created_at < utcnow()).count() == 1


def test_upgrade_on_an_empty_database_applies_every_migration_once(empty_database_url,
                                                                   app_settings):
    create_app({**app_settings, "ACCOUNTAPPS_DATABASE_URL": empty_database_url,
                "ACCOUNTAPPS_AUTO_MIGRATE": False})
    applied = migrations.upgrade()
    assert applied == [name for _v, name, _m in migrations.available()]
    assert migrations.upgrade() == []
    with db.database.connection_context():
        assert SchemaVersion.select().count() == len(applied)
    assert migrations.current_version() == migrations.latest_version()


def test_m0011_replaces_the_two_owner_indexes_with_one(app):
    from accountapps.storage.migrations import m0011_one_owner_index

    old = {"application_owner_created_at": "owner, created_at",
           "application_owner_state_created_at": "owner, state, created_at"}
    with app.app_context(), db.database.connection_context():
        for name, columns in old.items():  # a database from before m0011
            db.database.execute_sql(f'CREATE INDEX "{name}" ON "application" ({columns})')
        m0011_one_owner_index.upgrade(db.database)
        m0011_one_owner_index.upgrade(db.database)  # idempotent
        indexes = {index.name for index in db.database.get_indexes("application")}
    assert "application_owner_created_at_state" in indexes
    assert not indexes & set(old)


def _counting_triggers() -> set[str]:
    if db.is_postgres():
        rows = db.database.execute_sql(
            "SELECT tgname FROM pg_trigger WHERE tgrelid = 'application'::regclass "
            "AND NOT tgisinternal").fetchall()
    else:
        rows = db.database.execute_sql(
            "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'application'"
        ).fetchall()
    return {name for (name,) in rows if "count" in name}


def test_m0012_keeps_the_counts_with_one_trigger_on_postgresql(app, client, admin_headers,
                                                               make_applications):
    from accountapps.storage import row_counts
    from accountapps.storage.migrations import m0012_one_count_trigger

    with app.app_context(), db.database.connection_context():
        if db.is_postgres():  # a database from before m0012: 0010's trigger is there
            db.database.execute_sql(
                "CREATE OR REPLACE FUNCTION application_state_count() RETURNS trigger AS "
                "$$ BEGIN RETURN NULL; END; $$ LANGUAGE plpgsql")
            db.database.execute_sql(
                "CREATE TRIGGER application_state_count AFTER INSERT ON application "
                "FOR EACH ROW EXECUTE FUNCTION application_state_count()")
        m0012_one_count_trigger.upgrade(db.database)
        m0012_one_count_trigger.upgrade(db.database)  # idempotent
        row_counts.install(db.database, "application")  # counters as 0009/0010 left them
        triggers = _counting_triggers()
    if db.is_postgres():
        assert triggers == {"application_counts"}
    else:
        assert len(triggers) == 5  # SQLite's are unchanged
    made = make_applications(2)
    cancel = client.post(f"/accountApplications/canceledApplications?application={made[0]['_id']}",
                         headers=admin_headers)
    assert cancel.status_code == 200
    with app.app_context(), db.database.connection_context():
        assert row_counts.total("application") == 2
        assert row_counts.in_states("application", ["running"]) == 1
        assert row_counts.in_states("application", ["canceled"]) == 1
