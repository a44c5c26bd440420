"""Compiled fixed-shape writes (accountapps.storage.sql) bind values as peewee would."""

from __future__ import annotations

from datetime import datetime

import pytest

from accountapps.storage import sql
from accountapps.storage.db import database
from accountapps.storage.models import Application, AuditRecord

WHEN = datetime(2024, 5, 6, 7, 8, 9, 123456)


@pytest.fixture
def db(app):
    with app.app_context(), database.connection_context():
        yield


def new_application(**values) -> dict:
    return {"id": "app-1", "owner": "u", "product_id": "p", "state": "running",
            "workflow_state": "running", "created_at": WHEN, "active_at": WHEN,
            "document": {"accountName": "Ä"}, **values}


@pytest.mark.usefixtures("db")
def test_an_inserted_row_reads_back_with_its_values():
    sql.insert(Application, new_application())
    row = Application.get_by_id("app-1")
    assert (row.created_at, row.document, row.state) == (WHEN, {"accountName": "Ä"}, "running")


@pytest.mark.usefixtures("db")
def test_insert_fills_in_field_defaults():
    sql.insert(Application, new_application())
    assert Application.get_by_id("app-1").revision == 1


@pytest.mark.usefixtures("db")
def test_insert_leaves_an_auto_id_to_the_database():
    for state in ("running", "canceled"):
        sql.insert(AuditRecord, {"resource_type": "application", "resource_id": "a",
                                 "occurred_at": WHEN, "to_state": state})
    assert len({r.id for r in AuditRecord.select().where(AuditRecord.resource_id == "a")}) == 2


def cancel_record(app_id: str = "app-1") -> dict:
    return {"resource_type": "application", "resource_id": app_id, "occurred_at": WHEN,
            "user_id": "u", "from_state": "running", "to_state": "canceled"}


@pytest.mark.usefixtures("db")
def test_update_where_then_insert_adds_the_row_when_it_updated():
    sql.insert(Application, new_application())
    changed = sql.update_where(Application, {"state": "canceled", "revision": 2},
                               (("id", "app-1"), ("revision", 1)),
                               then_insert=(AuditRecord, cancel_record()))
    assert changed == 1
    (record,) = AuditRecord.select().where(AuditRecord.resource_id == "app-1")
    assert (record.occurred_at, record.user_id, record.from_state, record.to_state,
            record.reason) == (WHEN, "u", "running", "canceled", None)
    assert Application.get_by_id("app-1").state == "canceled"


@pytest.mark.usefixtures("db")
def test_update_where_then_insert_adds_nothing_when_no_row_matched():
    sql.insert(Application, new_application())
    changed = sql.update_where(Application, {"state": "canceled", "revision": 3},
                               (("id", "app-1"), ("revision", 2)),  # a revision already gone
                               then_insert=(AuditRecord, cancel_record()))
    assert changed == 0
    assert AuditRecord.select().where(AuditRecord.resource_id == "app-1").count() == 0
    assert Application.get_by_id("app-1").state == "running"


@pytest.mark.usefixtures("db")
def test_update_where_changes_only_rows_matching_every_condition():
    sql.insert(Application, new_application())
    stale = sql.update_where(Application, {"state": "canceled"},
                             (("id", "app-1"), ("revision", 2)))
    fresh = sql.update_where(Application, {"state": "canceled", "revision": 2},
                             (("id", "app-1"), ("revision", 1)))
    assert (stale, fresh) == (0, 1)
    row = Application.get_by_id("app-1")
    assert (row.state, row.revision) == ("canceled", 2)


def select_by_id(resource_id: str) -> tuple[str, list]:
    return Application.select().where(Application.id == resource_id).sql()


@pytest.mark.usefixtures("db")
def test_first_row_reads_a_row_as_peewee_does():
    sql.insert(Application, new_application(completed_at=None))
    text, params = select_by_id("app-1")
    ours = sql.first_row(Application, text, params)
    peewees = next(iter(Application.raw(text, *params)))
    assert ours.__data__ == peewees.__data__
    assert (ours.created_at, ours.document, ours.completed_at) == (
        WHEN, {"accountName": "Ä"}, None)


@pytest.mark.usefixtures("db")
def test_first_row_sets_a_column_that_is_no_field_as_peewee_does():
    sql.insert(Application, new_application())
    text, params = select_by_id("app-1")
    text = text.replace("SELECT ", "SELECT 7 AS \"seven\", ", 1)
    ours = sql.first_row(Application, text, params)
    peewees = next(iter(Application.raw(text, *params)))
    assert (ours.seven, ours.__data__) == (peewees.seven, peewees.__data__)
    assert "seven" not in ours.__data__


@pytest.mark.usefixtures("db")
def test_first_row_is_none_when_nothing_matches():
    assert sql.first_row(Application, *select_by_id("missing")) is None


@pytest.mark.usefixtures("db")
def test_first_row_reads_each_row_of_one_statement_with_its_own_values():
    sql.insert(Application, new_application())
    sql.insert(Application, new_application(id="app-2", owner="v", document={"n": 2}))
    text, _ = select_by_id("app-1")
    rows = [sql.first_row(Application, text, [rid]) for rid in ("app-1", "app-2")]
    assert [(row.id, row.owner, row.document) for row in rows] == [
        ("app-1", "u", {"accountName": "Ä"}), ("app-2", "v", {"n": 2})]


@pytest.mark.usefixtures("db")
def test_first_row_returns_a_clean_instance():
    sql.insert(Application, new_application())
    row = sql.first_row(Application, *select_by_id("app-1"))
    assert not row.dirty_fields
