"""PostgreSQL round trips: a transaction's statements travel together, and the
queries every request makes are prepared once per connection.

Every round trip to the server is time a sync worker waits with nothing to do.
These tests need PostgreSQL (the suite's PostgreSQL run); on SQLite they skip.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from db_helpers import sql_sent
from peewee import IntegrityError

from accountapps.storage import db
from accountapps.storage.models import Application, AuditRecord


@pytest.fixture
def pool(app) -> Iterator[db.PostgresPool]:
    if not db.is_postgres():
        pytest.skip("round trips are PostgreSQL's (run the suite on PostgreSQL)")
    database = db.database.obj
    assert isinstance(database, db.PostgresPool)
    yield database
    database.close_all()


def writes(sent: list[str]) -> list[str]:
    """The round trips that write, a prepared statement shown as the text it prepares."""
    texts = [_EXECUTE.sub("", _PREPARE.sub("", sql)) for sql in sent]
    return [text for text in texts if not text.startswith(("SELECT", "EXECUTE"))]


_PREPARE = re.compile(r"(DEALLOCATE ALL; )?PREPARE \w+ AS ")
_EXECUTE = re.compile(r"; EXECUTE \w+\([^)]*\)")


@pytest.fixture
def sent() -> Iterator[list[str]]:
    """The SQL of every round trip, as peewee hands it to the driver."""
    with sql_sent() as statements:
        yield statements


def test_a_create_is_one_round_trip(pool, user, create_body, sent):
    response = user.post("/applications", json=create_body())
    assert response.status_code == 201
    assert len(sent) == 1
    statement = sent[0]
    assert statement.startswith("BEGIN; INSERT INTO \"application\"")
    assert statement.count("INSERT INTO") == 4  # application, applicant, audit record, event
    assert statement.endswith("; COMMIT")


def test_a_create_with_an_idempotency_key_is_one_round_trip_too(pool, user, create_body,
                                                                sent):
    # The key is not looked up first: its answer's INSERT goes with the COMMIT,
    # whose primary key refuses it if the key was answered (docs/idempotency.md).
    response = user.post("/applications", json=create_body(),
                         headers={"Idempotency-Key": "one-trip"})
    assert response.status_code == 201
    assert len(sent) == 1
    assert 'INSERT INTO idempotency_key' in sent[0]
    assert sent[0].endswith("; COMMIT")


def test_an_action_and_its_audit_record_are_one_statement(pool, user, application, sent):
    response = user.post(f"/canceledApplications?application={application.json['_id']}")
    assert response.status_code == 200
    written = writes(sent)
    assert len(written) == 1
    assert written[0].startswith('WITH changed AS (UPDATE "application"')
    assert 'INSERT INTO "audit_record"' in written[0]
    assert 'INSERT INTO "event"' in written[0]  # its event, in the same statement
    assert pool.connection().get_transaction_status() == 0  # committed by the server as it ran


def test_an_action_records_who_did_what_in_its_one_statement(pool, app, user, application):
    app_id = application.json["_id"]
    assert user.post(f"/canceledApplications?application={app_id}").status_code == 200
    with app.app_context():
        record = (AuditRecord.select().where(AuditRecord.resource_id == app_id)
                  .order_by(AuditRecord.id.desc()).first())
    assert (record.from_state, record.to_state) == ("running", "canceled")
    assert record.user_id == "user-1"
    assert record.occurred_at is not None


def test_a_refused_create_leaves_nothing_behind(pool, app, user, application, create_body):
    with app.app_context():
        before = AuditRecord.select().count()
    response = user.post("/applications", json=create_body())
    assert response.status_code == 409  # one in progress: the unique index refused it
    with app.app_context():
        assert AuditRecord.select().count() == before
        assert Application.select().count() == 1


def test_a_transaction_that_fails_at_commit_rolls_back(pool, app):
    with app.app_context():
        pool.connect(reuse_if_open=True)
        with pytest.raises(IntegrityError), db.write_transaction():
            db.execute_later('INSERT INTO "audit_record" ("resource_type") VALUES (%s)',
                             [None])  # NOT NULL: fails when the COMMIT carries it
        # The session is usable again: the failed transaction was rolled back.
        assert pool.execute_sql("SELECT 1").fetchone() == (1,)
        assert pool.connection().get_transaction_status() == 0  # idle


def test_an_empty_transaction_sends_nothing(pool, app, sent):
    with app.app_context():
        pool.connect(reuse_if_open=True)
        with db.write_transaction():
            pass
    assert sent == []


def test_reading_a_resource_twice_prepares_its_query_once(pool, user, application, sent):
    path = f"/applications/{application.json['_id']}"
    first, second = user.get(path), user.get(path)
    assert first.json == second.json
    assert "PREPARE" in sent[0]
    assert sent[1].startswith("EXECUTE ") and "PREPARE" not in sent[1]


def test_a_failed_round_with_a_prepare_leaves_the_session_usable(pool, app):
    query = "SELECT 10 / %s"
    with app.app_context():
        pool.connect(reuse_if_open=True)
        statement, params = db.prepared(query, [0])
        with pytest.raises(Exception, match="division by zero"):
            pool.execute_sql(statement, params)  # the PREPARE ran, the EXECUTE failed
        # Unknown what the session holds now: the next round starts afresh.
        statement, params = db.prepared(query, [5])
        assert statement.startswith("DEALLOCATE ALL; PREPARE")
        assert pool.execute_sql(statement, params).fetchone() == (2,)
        statement, params = db.prepared(query, [2])
        assert statement.startswith("EXECUTE")
        assert pool.execute_sql(statement, params).fetchone() == (5,)


def test_with_preparing_off_queries_are_sent_as_written(pool, user, application, sent,
                                                        monkeypatch):
    monkeypatch.setattr(pool, "prepare", False)  # ACCOUNTAPPS_DATABASE_PREPARE=0
    path = f"/applications/{application.json['_id']}"
    assert user.get(path).status_code == 200
    assert sent and not [sql for sql in sent if "PREPARE" in sql or "EXECUTE" in sql]


def test_the_prepare_setting_reaches_the_pool(app_settings, pool):
    from accountapps import create_app

    create_app({**app_settings, "ACCOUNTAPPS_DATABASE_PREPARE": "0"})
    assert db.database.obj.prepare is False


def test_a_prepare_never_sent_is_not_counted_as_prepared(pool, app):
    query = "SELECT 7 * %s"
    with app.app_context():
        pool.connect(reuse_if_open=True)
        db.prepared(query, [1])  # built, but the request failed before sending it
        assert pool.execute_sql("SELECT 1").fetchone() == (1,)
        statement, params = db.prepared(query, [2])
        assert "PREPARE" in statement
        assert pool.execute_sql(statement, params).fetchone() == (14,)


def test_a_patch_is_one_write_round_trip_with_no_transaction_around_it(pool, user,
                                                                        application, sent):
    response = user.patch(f"/applications/{application.json['_id']}",
                          json={"accountName": "Renamed"},
                          headers={"If-Match": application.headers["ETag"]})
    assert response.status_code == 200, response.json
    written = writes(sent)
    assert len(written) == 1
    # The change and its event, committed by the server as it runs.
    assert written[0].startswith('WITH changed AS (UPDATE "application"')
    assert 'INSERT INTO "event"' in written[0]
    assert pool.connection().get_transaction_status() == 0  # idle: nothing left open


def test_a_patch_that_changes_the_applicants_is_one_transaction(pool, user, application,
                                                                create_body, sent):
    applicants = create_body()["applicants"]
    applicants[0]["contact"]["_links"]["self"]["href"] += "-moved"
    response = user.patch(f"/applications/{application.json['_id']}",
                          json={"applicants": applicants},
                          headers={"If-Match": application.headers["ETag"]})
    assert response.status_code == 200, response.json
    written = writes(sent)
    assert written[0].startswith('BEGIN; WITH changed AS (UPDATE "application"')
    assert any("application_applicant" in sql for sql in written[1:])


def test_a_patch_prepares_its_write_once_per_connection(pool, user, application):
    path = f"/applications/{application.json['_id']}"
    with sql_sent() as first_sent:
        first = user.patch(path, json={"accountName": "Renamed"},
                           headers={"If-Match": application.headers["ETag"]})
    with sql_sent() as second_sent:
        second = user.patch(path, json={"accountName": "Renamed again"},
                            headers={"If-Match": first.headers["ETag"]})
    assert first.status_code == second.status_code == 200
    names = [match.group(1) for sql in first_sent
             for match in re.finditer(r"PREPARE (\w+) AS WITH changed AS \(UPDATE", sql)]
    assert len(names) == 1  # the first PATCH prepares its write
    assert any(f"EXECUTE {names[0]}(" in sql for sql in second_sent)  # the second executes it
    assert not any("UPDATE" in sql for sql in second_sent)  # and sends no text of it again
