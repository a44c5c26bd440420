"""A collection query's SQL is generated once per shape, and is always peewee's SQL."""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import quote

import pytest
from peewee import SQL, ModelSelect, Select, fn

from accountapps.domain import filter_expr
from accountapps.domain.applications import COLLECTION
from accountapps.domain.collection_query import order_by, translate
from accountapps.storage import query_shapes
from accountapps.storage.db import database, prepared
from accountapps.storage.models import Application, ApplicationApplicant
from accountapps.storage.pages import records

#: Filters of many shapes; each is checked with two sets of values.
FILTERS = [
    ("eq(accountName,alpha)", "eq(accountName,beta)"),
    ("ne(state,running)", "ne(state,blocked)"),
    ("in(state,running,blocked)", "in(state,approved,canceled)"),
    ("and(eq(state,running),lt(createdAt,2024-01-01T00:00:00.000Z))",
     "and(eq(state,blocked),lt(createdAt,2025-06-30T12:00:00.000Z))"),
    ("or(eq(accountName,a),not(eq(applicantName,b)))",
     "or(eq(accountName,c),not(eq(applicantName,d)))"),
    ("contains(accountName,50% off)", "contains(accountName,a_b)"),
    ('startsWith(applicantName,"O\'B")', "startsWith(applicantName,x)"),
    ("isNull(completedAt)", "isNull(completedAt)"),
    ("isNotNull(organizationName)", "isNotNull(organizationName)"),
    ("ge(createdAt,2024-01-01)", "ge(createdAt,2023-02-03)"),
]


@pytest.fixture
def db(app):
    with app.app_context(), database.connection_context():
        query_shapes._SQL.clear()
        yield
        query_shapes._SQL.clear()


def page(filter_text: str, owner: str | None = "u1", sort: str = "-createdAt") -> ModelSelect:
    query = Application.select(Application.id, Application.state, Application.created_at)
    if owner is not None:
        query = query.where(Application.owner == owner)
    query = query.where(translate(COLLECTION, filter_expr.parse(filter_text)))
    return query.order_by(*order_by(COLLECTION, sort)).offset(20).limit(100)


def peewees(query) -> tuple[str, list]:
    sql, params = prepared(*query.sql())
    return sql, list(params)


@pytest.mark.usefixtures("db")
@pytest.mark.parametrize(("first", "second"), FILTERS)
def test_a_page_is_peewees_sql_with_its_own_values_on_first_and_later_use(first, second):
    for text in (first, second, first):
        query = page(text)
        assert query_shapes.select_sql(query) == peewees(query)


@pytest.mark.usefixtures("db")
@pytest.mark.parametrize(("first", "second"), FILTERS)
def test_every_filter_shape_is_kept(first, second):
    query_shapes.select_sql(page(first))
    assert len(query_shapes._SQL) == 1 and None not in query_shapes._SQL.values()


@pytest.mark.usefixtures("db")
@pytest.mark.parametrize(("first", "second"), FILTERS)
def test_a_count_is_peewees_count_with_its_own_values(first, second):
    for text in (first, second):
        query = page(text).order_by().limit(None).offset(None)
        wrapped = query.order_by().select(SQL("1")).alias("_wrapped")
        counting = Select([wrapped], [fn.COUNT(SQL("1"))]).bind(database)
        assert query_shapes.count_sql(query) == peewees(counting)


@pytest.mark.usefixtures("db")
def test_a_count_gives_the_number_peewee_counts():
    for state in ("running", "canceled", "running"):
        query = Application.select(Application.id).where(Application.state == state)
        assert database.execute_sql(*query_shapes.count_sql(query)).fetchone()[0] == (
            query.count())


@pytest.mark.usefixtures("db")
def test_a_shape_seen_before_is_not_built_again(monkeypatch):
    query_shapes.select_sql(page("eq(accountName,alpha)"))
    built = []
    original = ModelSelect.sql
    monkeypatch.setattr(ModelSelect, "sql", lambda self: built.append(self) or original(self))
    _sql, values = query_shapes.select_sql(page("eq(accountName,omega)", owner="u9"))
    assert built == []
    assert "omega" in values and "u9" in values


@pytest.mark.usefixtures("db")
def test_other_sorts_and_owners_are_other_shapes():
    mine = query_shapes.select_sql(page("eq(state,running)", sort="accountName"))
    admins = query_shapes.select_sql(page("eq(state,running)", owner=None, sort="-state"))
    assert mine[0] != admins[0]
    assert mine == peewees(page("eq(state,running)", sort="accountName"))
    assert admins == peewees(page("eq(state,running)", owner=None, sort="-state"))


@pytest.mark.usefixtures("db")
def test_a_query_with_a_subquery_is_left_to_peewee():
    query = Application.select(Application.id).where(Application.id.in_(
        ApplicationApplicant.select(ApplicationApplicant.application_id).where(
            ApplicationApplicant.contact_uri == "https://x/contacts/1")))
    assert query_shapes.select_sql(query) == peewees(query)
    assert query_shapes._SQL == {}


@pytest.mark.usefixtures("db")
def test_a_shape_whose_values_do_not_match_peewees_is_always_built_by_peewee(monkeypatch):
    real = query_shapes._value

    def loses_values(value, converter, values):  # a walk that gets the values wrong
        shape = real(value, converter, values)
        values.append("extra")
        return shape

    monkeypatch.setattr(query_shapes, "_value", loses_values)
    first, second = page("eq(accountName,a)"), page("eq(accountName,b)")
    assert query_shapes.select_sql(first) == peewees(first)
    assert list(query_shapes._SQL.values()) == [None]
    assert query_shapes.select_sql(second) == peewees(second)


@pytest.mark.usefixtures("db")
def test_a_date_and_a_datetime_are_different_shapes():
    at = datetime(2024, 1, 2, 3, 4, 5)
    with_datetime = Application.select(Application.id).where(Application.created_at < at)
    with_date = Application.select(Application.id).where(Application.created_at < at.date())
    assert query_shapes.select_sql(with_datetime) == peewees(with_datetime)
    assert query_shapes.select_sql(with_date) == peewees(with_date)


@pytest.mark.usefixtures("db")
@pytest.mark.parametrize("op", ["or", "and"])
def test_a_filter_of_500_terms_is_walked_and_kept(op):
    terms = tuple(filter_expr.Comparison("eq", "accountName", (f"v{index}",))
                  for index in range(500))
    query = Application.select(Application.id).where(
        translate(COLLECTION, filter_expr.BoolOp(op, terms)))
    assert query_shapes.select_sql(query) == peewees(query)
    assert len(query_shapes._SQL) == 1 and None not in query_shapes._SQL.values()


@pytest.mark.usefixtures("db")
def test_no_more_than_max_shapes_are_kept(monkeypatch):
    monkeypatch.setattr(query_shapes, "MAX_SHAPES", 3)
    for count in range(1, 7):
        query = Application.select(Application.id).where(
            Application.state.in_(["running"] * count))
        assert query_shapes.select_sql(query) == peewees(query)
    assert len(query_shapes._SQL) == 3


# --- peewee's private attributes changed: peewee's own SQL, never an error ---------

def counting(query: ModelSelect) -> Select:
    """peewee's own ``COUNT`` of ``query``, as count_sql asks it."""
    wrapped = query.order_by().select(SQL("1")).alias("_wrapped")
    return Select([wrapped], [fn.COUNT(SQL("1"))]).bind(database)


def break_private_reads(monkeypatch, error: type[Exception] = AttributeError) -> list:
    """Make the walk fail as a renamed peewee attribute would; the calls it got are returned."""
    calls: list = []

    def walk(*args, **kwargs):
        calls.append(args)
        raise error("'ModelSelect' object has no attribute '_joins'")

    monkeypatch.setattr(query_shapes, "_select_shape", walk)
    monkeypatch.setattr(query_shapes, "_warned", False)
    return calls


@pytest.mark.usefixtures("db")
def test_a_query_lacking_a_private_attribute_is_peewees_sql():
    query = page("eq(accountName,alpha)")
    del query._joins  # as if peewee had renamed it (its own SELECT does not read it)
    assert query_shapes.select_sql(query) == peewees(query)
    assert query_shapes._SQL == {}


@pytest.mark.usefixtures("db")
@pytest.mark.parametrize("error", [AttributeError, KeyError, TypeError])
@pytest.mark.parametrize(("first", "second"), FILTERS[:4])
def test_a_failing_private_read_gives_peewees_sql(monkeypatch, error, first, second):
    calls = break_private_reads(monkeypatch, error)
    for text in (first, second):
        query = page(text)
        assert query_shapes.select_sql(query) == peewees(query)
        assert query_shapes.count_sql(query) == peewees(counting(query))
    assert len(calls) == 4
    assert query_shapes._SQL == {}


def test_a_page_read_with_private_reads_failing_has_the_same_rows(monkeypatch, application, db):
    query = page("eq(state,running)", owner=None).offset(0)
    expected = records(query)
    assert [row.id for row in expected] == [application.json["_id"]]
    break_private_reads(monkeypatch)
    assert records(query) == expected


@pytest.mark.usefixtures("db")
def test_failing_private_reads_are_logged_once(monkeypatch, caplog):
    break_private_reads(monkeypatch)
    with caplog.at_level(logging.WARNING, logger=query_shapes.__name__):
        for text in ("eq(accountName,a)", "eq(accountName,b)"):
            query_shapes.select_sql(page(text))
            query_shapes.count_sql(page(text))
    assert len(caplog.records) == 1
    assert "peewee's private attributes" in caplog.records[0].getMessage()


@pytest.mark.parametrize("query", ["", "?filter=" + quote("eq(state,running)")])
def test_a_collection_answers_200_with_private_reads_failing(monkeypatch, user, application,
                                                              query):
    calls = break_private_reads(monkeypatch)
    monkeypatch.setattr(query_shapes, "_SQL", {})
    response = user.get("/applications" + query)
    assert response.status_code == 200, response.json
    assert response.json["count"] == 1
    assert [item["_id"] for item in response.json["_embedded"]["items"]] == [
        application.json["_id"]]
    assert calls  # the collection's SQL did come through query_shapes
