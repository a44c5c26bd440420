"""Collection queries use indexes: no full scan of the table, whatever the size.

Each collection request is sent through the app; the SQL it runs is captured
from peewee's query log and explained with ``EXPLAIN QUERY PLAN`` against a
seeded, analysed database. A plan may walk an index in order (``SCAN ... USING
INDEX``, stopped by ``LIMIT``) or search one, but never read the whole table
(a bare ``SCAN``), and an unfiltered page never sorts the whole table.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from conftest import ADMIN_SCOPES, API_KEY, SECRET, USER_SCOPES, headers_for
from db_helpers import sql_sent

from accountapps.storage.db import database
from bench.seed import seed_applications

SORT_FIELDS = ("accountName", "applicantName", "productName", "organizationName", "state",
               "createdAt", "completedAt")
FILTERS = (
    "eq(state,approved)",
    "eq(accountName,Savings)",
    "eq(applicantName,Anna Frost)",
    "eq(productName,Premiere Savings)",
    "eq(organizationName,Trolls Ltd)",
    "ge(createdAt,2026-01-01)",
    "lt(completedAt,2025-01-01)",
    "in(state,running,blocked)",
)
BARE_SCAN = re.compile(r"^SCAN (t\d+|application)$")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """An app on a database of 3,000 applications, analysed as a long-running one is."""
    from accountapps import create_app

    path = tmp_path_factory.mktemp("plans") / "plans.db"
    app = create_app({"ACCOUNTAPPS_DATABASE_URL": f"sqlite:///{path}",
                      "ACCOUNTAPPS_API_KEYS": API_KEY, "ACCOUNTAPPS_JWT_SECRET": SECRET,
                      "ACCOUNTAPPS_LOG_LEVEL": "WARNING"})
    with app.app_context(), database.connection_context():
        seed_applications(3000)
        database.execute_sql("ANALYZE")
    return app


def plans_of(app, query: str, headers: dict[str, str]) -> list[tuple[str, list[str]]]:
    """(SQL, plan lines) of every SELECT on the application table the request ran."""
    with sql_sent() as sent:
        response = app.test_client().get(f"/accountApplications/applications?{query}",
                                          headers=headers)
    assert response.status_code == 200, response.json
    explained = []
    with app.app_context(), database.connection_context():
        for sql in sent:
            if sql.startswith("SELECT") and '"application"' in sql:
                rows = database.execute_sql(f"EXPLAIN QUERY PLAN {sql}", sql.params).fetchall()
                explained.append((sql, [row[-1] for row in rows]))
    assert explained, "the request ran no query on application"
    return explained


def full_scans(explained: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    return [(sql, plan) for sql, plan in explained if any(BARE_SCAN.match(p) for p in plan)]


def whole_sorts(explained: list[tuple[str, list[str]]]) -> list[tuple[str, list[str]]]:
    return [(sql, plan) for sql, plan in explained
            if "USE TEMP B-TREE FOR ORDER BY" in plan
            and not any(p.startswith("SEARCH") for p in plan)]


USER = headers_for("bench-reader-0", USER_SCOPES)
ADMIN = headers_for("bench-admin", ADMIN_SCOPES)


@pytest.mark.parametrize("who", [USER, ADMIN], ids=["owner", "admin"])
@pytest.mark.parametrize("sort", [f"{sign}{name}" for name in SORT_FIELDS for sign in "+-"])
def test_a_sorted_page_reads_no_whole_table(seeded, who, sort):
    explained = plans_of(seeded, f"sortBy={quote(sort)}&limit=100", who)
    assert not full_scans(explained)
    assert not whole_sorts(explained)


@pytest.mark.parametrize("who", [USER, ADMIN], ids=["owner", "admin"])
@pytest.mark.parametrize("expression", FILTERS)
def test_a_filtered_page_searches_an_index(seeded, who, expression):
    explained = plans_of(seeded, f"filter={quote(expression)}&sortBy=-createdAt", who)
    assert not full_scans(explained)
    counts = [plan for sql, plan in explained if sql.startswith("SELECT COUNT")]
    if who is ADMIN and expression.split("(")[1].startswith("state,"):
        assert not counts  # the work queue: the counts kept per state (row_counts)
        return
    # The count has no ORDER BY to walk: it must search an index of the filter.
    assert counts and all(p.startswith("SEARCH") for plan in counts for p in plan)


@pytest.mark.parametrize("who", [USER, ADMIN], ids=["owner", "admin"])
def test_the_state_parameter_searches_an_index(seeded, who):
    explained = plans_of(seeded, "state=running%7Cblocked&sortBy=-createdAt", who)
    assert not full_scans(explained)


def test_the_expiry_check_before_a_page_searches_the_state_index(seeded):
    explained = plans_of(seeded, "", ADMIN)
    expiry = [plan for sql, plan in explained if '"active_at" <' in sql]
    # A range of (state, active_at), not a walk of the primary key over every row.
    assert expiry and all("(state=? AND active_at<?)" in p for plan in expiry for p in plan)


def test_an_owners_count_reads_only_the_index(seeded):
    explained = plans_of(seeded, "state=approved%7Ccanceled", USER)
    counts = [plan for sql, plan in explained if sql.startswith("SELECT COUNT")]
    assert counts and all("COVERING INDEX" in p for plan in counts for p in plan)
