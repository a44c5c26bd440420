"""``filter=``: every operator, quoting, dates, and the error cases."""

from datetime import UTC, datetime, timedelta
from math import ceil, log2
from urllib.parse import quote

import pytest
from conftest import REFERENCE_CREATE_BODY, USER_SCOPES, Api, headers_for

from accountapps.domain import collection_query, filter_expr
from accountapps.domain.applications import COLLECTION
from accountapps.domain.collection_query import combine, query_page
from accountapps.storage.db import database
from accountapps.storage.models import Application

NAMES = ["alpha", "beta", "gamma", "O'Brien", 'say "hi"', "50% off", "a_b", "axb",
         "a,b (c)", "c:\\dir"]
#: Range comparisons are checked among these only: their order is the same in
#: every collation (byte order in SQLite, the locale's in PostgreSQL).
GREEK = "in(accountName,alpha,beta,gamma)"


@pytest.fixture
def seeded(client, admin):
    """One application per name (``alpha`` has an organization); name -> id."""
    made = {}
    for index, name in enumerate(NAMES):
        body = {**REFERENCE_CREATE_BODY, "accountName": name}
        if name == "alpha":
            body["organization"] = {"name": "Acme"}
        response = Api(client, headers_for(f"f{index}", USER_SCOPES)).post("/applications", body)
        assert response.status_code == 201, response.json
        made[name] = response.json["_id"]
    return made


def matching(admin, expression: str) -> set[str]:
    response = admin.get(f"/applications?limit=1000&filter={quote(expression)}")
    assert response.status_code == 200, response.json
    return {item["accountName"] for item in response.json["_embedded"]["items"]}


def error_of(admin, expression: str):
    response = admin.get(f"/applications?filter={quote(expression)}")
    return response.status_code, response.json["_error"]


# --- operators ---------------------------------------------------------------

def test_eq(admin, seeded):
    assert matching(admin, "eq(accountName,beta)") == {"beta"}


def test_ne(admin, seeded):
    assert matching(admin, "ne(accountName,beta)") == set(NAMES) - {"beta"}


def test_lt(admin, seeded):
    assert matching(admin, f"and({GREEK},lt(accountName,beta))") == {"alpha"}


def test_le(admin, seeded):
    assert matching(admin, f"and({GREEK},le(accountName,beta))") == {"alpha", "beta"}


def test_gt(admin, seeded):
    assert matching(admin, f"and({GREEK},gt(accountName,beta))") == {"gamma"}


def test_ge(admin, seeded):
    assert matching(admin, f"and({GREEK},ge(accountName,beta))") == {"beta", "gamma"}


def test_in(admin, seeded):
    assert matching(admin, "in(accountName,alpha,gamma,nobody)") == {"alpha", "gamma"}


def test_starts_with(admin, seeded):
    assert matching(admin, "startsWith(accountName,al)") == {"alpha"}


def test_ends_with(admin, seeded):
    assert matching(admin, "endsWith(accountName,ta)") == {"beta"}


def test_contains(admin, seeded):
    assert matching(admin, "contains(accountName,mm)") == {"gamma"}


def test_text_tests_ignore_case(admin, seeded):
    assert matching(admin, "startsWith(accountName,ALP)") == {"alpha"}


def test_is_null(admin, seeded):
    assert matching(admin, "isNull(organizationName)") == set(NAMES) - {"alpha"}


def test_is_not_null(admin, seeded):
    assert matching(admin, "isNotNull(organizationName)") == {"alpha"}


def test_and(admin, seeded):
    assert matching(admin, "and(startsWith(accountName,a),endsWith(accountName,b))") == {
        "a_b", "axb"}


def test_or(admin, seeded):
    assert matching(admin, "or(eq(accountName,alpha),eq(accountName,beta))") == {
        "alpha", "beta"}


def test_not(admin, seeded):
    assert matching(admin, "not(startsWith(accountName,a))") == set(NAMES) - {
        "alpha", "a_b", "axb", "a,b (c)"}


def test_nested_boolean_operators(admin, seeded):
    expression = "and(or(eq(accountName,alpha),eq(accountName,beta)),not(eq(accountName,beta)))"
    assert matching(admin, expression) == {"alpha"}


def test_enum_field(admin, seeded):
    assert len(matching(admin, "eq(state,running)")) == len(NAMES)


def test_search_inside_a_filter(admin, seeded):
    assert matching(admin, "search('gamma')") == {"gamma"}


def test_filter_combines_with_simple_filters(admin, seeded):
    assert admin.get("/applications?state=approved&filter=eq(accountName,beta)").json[
        "count"] == 0


def nesting(sql: str) -> int:
    """How deeply the parentheses of ``sql`` nest."""
    depth = deepest = 0
    for char in sql:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    return deepest


@pytest.mark.parametrize("count", [1, 2, 3, 5, 8, 81, 500])
def test_combined_terms_nest_log2_deep_in_their_order(app, count):
    values = [f"v{index}" for index in range(count)]
    with app.app_context():
        where = combine("or", [Application.account_name == value for value in values])
        sql, params = Application.select(Application.id).where(where).sql()
    assert params == values
    assert nesting(sql) <= ceil(log2(count)) + 1  # + the parentheses of one comparison


@pytest.mark.parametrize(("op", "test", "last", "expected"), [
    ("or", "eq", "eq(accountName,gamma)", {"gamma"}),
    ("and", "ne", "ne(accountName,gamma)", set(NAMES) - {"gamma"}),
])
def test_or_of_500_terms_works(app, seeded, monkeypatch, op, test, last, expected):
    # more than a request's filter may hold (its page links would outgrow the
    # document's limit too), so the page is asked for directly: the SQL is tested
    monkeypatch.setattr(filter_expr, "MAX_LENGTH", 100_000)
    monkeypatch.setattr(collection_query, "MAX_QUERY_LENGTH", 100_000)
    terms = [f"{test}(accountName,other{index})" for index in range(499)]
    args = {"filter": f"{op}({','.join([*terms, last])})", "limit": "1000"}
    with app.app_context(), database.connection_context():
        query = Application.select(Application.id, Application.account_name)
        page = query_page(COLLECTION, query, args, max_limit=1000)
    assert {row.account_name for row in page.rows} == expected
    assert page.count == len(expected)


def test_search_of_more_words_than_the_limit_is_400(admin, seeded):
    many = " ".join(f"word{index}" for index in range(filter_expr.MAX_SEARCH_TERMS + 1))
    status, error = error_of(admin, f"and(eq(state,running),search('{many}'))")
    assert status == 400
    assert error["type"] == "malformedFilter"
    assert error["attributes"]["position"] == len("and(eq(state,running),")
    assert f"at most {filter_expr.MAX_SEARCH_TERMS} terms" in error["message"]


# --- quoting -----------------------------------------------------------------

def test_single_quoted_value_with_doubled_quote(admin, seeded):
    assert matching(admin, "eq(accountName,'O''Brien')") == {"O'Brien"}


def test_double_quoted_value_with_doubled_quote(admin, seeded):
    assert matching(admin, 'eq(accountName,"say ""hi""")') == {'say "hi"'}


def test_other_quote_inside_quotes_needs_no_doubling(admin, seeded):
    assert matching(admin, "eq(accountName,\"O'Brien\")") == {"O'Brien"}


def test_quoted_value_may_hold_commas_and_parentheses(admin, seeded):
    assert matching(admin, "eq(accountName,'a,b (c)')") == {"a,b (c)"}


def test_spaces_around_arguments_are_ignored(admin, seeded):
    assert matching(admin, "eq( accountName , beta )") == {"beta"}


# --- LIKE wildcards are literal ----------------------------------------------

def test_percent_is_matched_literally(admin, seeded):
    assert matching(admin, "contains(accountName,'%')") == {"50% off"}


def test_underscore_is_matched_literally(admin, seeded):
    assert matching(admin, "startsWith(accountName,a_)") == {"a_b"}


def test_backslash_is_matched_literally(admin, seeded):
    assert matching(admin, "contains(accountName,'\\')") == {"c:\\dir"}


# --- dates -------------------------------------------------------------------

def test_date_means_the_whole_utc_day(admin, seeded):
    today = datetime.now(UTC).date().isoformat()
    assert matching(admin, f"eq(createdAt,{today})") == set(NAMES)
    assert matching(admin, f"lt(createdAt,{today})") == set()
    assert matching(admin, f"le(createdAt,{today})") == set(NAMES)
    assert matching(admin, f"gt(createdAt,{today})") == set()


def test_date_time_values(admin, seeded):
    hour_ago = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert matching(admin, f"gt(createdAt,{hour_ago})") == set(NAMES)
    assert matching(admin, f"lt(createdAt,{hour_ago})") == set()


def test_date_time_with_offset_is_converted_to_utc(admin, seeded):
    later = (datetime.now(UTC) + timedelta(minutes=30)).astimezone(
        datetime.now(UTC).astimezone().tzinfo)
    moment = later.replace(microsecond=0).isoformat()
    assert matching(admin, f"lt(createdAt,'{moment}')") == set(NAMES)


@pytest.mark.parametrize(("expression", "all_match"), [
    ("eq(createdAt,9999-12-31)", False), ("ne(createdAt,9999-12-31)", True),
    ("lt(createdAt,9999-12-31)", True), ("le(createdAt,9999-12-31)", True),
    ("gt(createdAt,9999-12-31)", False), ("ge(createdAt,9999-12-31)", False),
    ("lt(createdAt,0001-01-01)", False), ("ge(createdAt,0001-01-01)", True),
])
def test_the_calendars_first_and_last_days_are_whole_days_too(admin, seeded, expression,
                                                               all_match):
    assert matching(admin, expression) == (set(NAMES) if all_match else set())


@pytest.mark.parametrize("moment", ["9999-12-31T23:00:00-05:00", "0001-01-01T00:00:00+05:00"])
def test_a_moment_beyond_the_calendar_in_utc_is_422(admin, moment):
    status, error = error_of(admin, f"eq(createdAt,'{moment}')")
    assert status == 422
    assert error["type"] == "invalidFilterValue"


def test_completed_at_is_null_until_the_application_ends(admin, seeded):
    # Rejection ends an application whatever its checklist (approval needs it complete).
    ended = admin.post(f"/rejectedApplications?application={seeded['beta']}")
    assert ended.status_code == 200, ended.json
    assert matching(admin, "isNotNull(completedAt)") == {"beta"}


# --- errors ------------------------------------------------------------------

@pytest.mark.parametrize("expression, position", [
    ("eq(state,running", 16),
    ("eq(state,'running)", 9),
    ("eq state", 3),
    ("eq(state,running) extra", 18),
    ("(state)", 0),
])
def test_malformed_filter_is_400_with_the_position(admin, expression, position):
    status, error = error_of(admin, expression)
    assert status == 400
    assert error["type"] == "malformedFilter"
    assert error["attributes"]["position"] == position


@pytest.mark.parametrize("expression", [
    "eq(state)", "eq(state,a,b)", "in(state)", "isNull(state,x)", "not(eq(state,a),eq(state,b))",
    "and()", "frob(state,x)", "eq('state',running)", "eq(state,run(ning))",
    "and(" * 40 + "eq(state,running)" + ")" * 40,
])
def test_malformed_filter_is_400(admin, expression):
    status, error = error_of(admin, expression)
    assert status == 400
    assert isinstance(error["attributes"]["position"], int)


def test_overlong_filter_is_400(admin):
    status, _error = error_of(admin, "in(state," + ",".join(["running"] * 600) + ")")
    assert status == 400


def test_unknown_field_is_422(admin):
    status, error = error_of(admin, "eq(owner,user-1)")
    assert status == 422
    assert error["attributes"]["field"] == "owner"


@pytest.mark.parametrize("expression", [
    "eq(state,flying)", "in(state,running,flying)", "eq(createdAt,yesterday)",
    "gt(completedAt,2020-13-01)", "startsWith(createdAt,2020)",
])
def test_bad_value_for_the_field_is_422(admin, expression):
    status, error = error_of(admin, expression)
    assert status == 422
    assert error["type"] == "invalidFilterValue"
