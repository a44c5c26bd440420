"""Collections: paging, sorting, simple filters, ``q``; the state-restricted views."""

from urllib.parse import parse_qs, quote, urlencode, urlparse

import pytest
from conftest import BASE, REFERENCE_CREATE_BODY, USER_SCOPES, Api, headers_for
from db_helpers import force_state
from test_filter import nesting

from accountapps.domain import applications, enrollments
from accountapps.domain.collection_query import MAX_QUERY_LENGTH, search_expression
from accountapps.domain.filter_expr import MAX_SEARCH_TERMS
from accountapps.storage.models import Application


def create(client, owner: str, account_name: str, **changes) -> str:
    """Create an application for ``owner`` named ``account_name``; return its id."""
    body = {**REFERENCE_CREATE_BODY, "accountName": account_name, **changes}
    response = Api(client, headers_for(owner, USER_SCOPES)).post("/applications", body)
    assert response.status_code == 201, response.json
    return response.json["_id"]


@pytest.fixture
def five(client):
    """Five applications of five users, named e..a in creation order."""
    return [create(client, f"u{i}", name) for i, name in enumerate("edcba")]


def query_of(href: str) -> dict[str, list[str]]:
    return parse_qs(urlparse(href).query)


def ids(response) -> list[str]:
    return [item["_id"] for item in response.json["_embedded"]["items"]]


def names(response) -> list[str]:
    return [item["accountName"] for item in response.json["_embedded"]["items"]]


# --- shape and paging --------------------------------------------------------

def test_empty_collection(user):
    body = user.get("/applications").json
    assert body["count"] == 0
    assert body["start"] == 0
    assert body["limit"] == 100
    assert body["_embedded"]["items"] == []
    assert set(body["_links"]) == {"self", "first", "collection"}


def test_collection_has_profile_name_and_absolute_links(user, application):
    body = user.get("/applications").json
    assert body["name"] == "applications"
    assert body["_profile"].startswith("http://")
    assert body["_links"]["collection"]["href"] == f"http://localhost{BASE}/applications"


def test_items_are_summaries_of_an_array(user, application):
    items = user.get("/applications").json["_embedded"]["items"]
    assert isinstance(items, list) and len(items) == 1
    item = items[0]
    assert item["_id"] == application.json["_id"]
    assert item["_links"]["self"]["href"] == application.headers["Location"]
    assert item["state"] == "running"
    for field in ("_profile", "accountName", "applicantName", "productName"):
        assert field in item
    assert "fundingAccount" not in item


def test_first_page_has_next_but_no_prev(admin, five):
    body = admin.get("/applications?limit=2").json
    assert body["count"] == 5
    assert len(body["_embedded"]["items"]) == 2
    assert query_of(body["_links"]["next"]["href"])["start"] == ["2"]
    assert query_of(body["_links"]["first"]["href"])["start"] == ["0"]
    assert "prev" not in body["_links"]


def test_middle_page_has_prev_and_next(admin, five):
    links = admin.get("/applications?start=2&limit=2").json["_links"]
    assert query_of(links["prev"]["href"])["start"] == ["0"]
    assert query_of(links["next"]["href"])["start"] == ["4"]


def test_prev_of_a_page_starting_nearer_the_front_than_its_limit_stops_before_it(admin, five):
    links = admin.get("/applications?start=1&limit=3").json["_links"]
    assert query_of(links["prev"]["href"])["start"] == ["0"]
    assert query_of(links["prev"]["href"])["limit"] == ["1"]


def test_following_prev_links_visits_every_item_once(admin, five):
    everything = [item["_id"] for item in admin.get("/applications").json["_embedded"]["items"]]
    seen = []
    body = admin.get("/applications?start=3&limit=2").json
    while True:
        seen[:0] = [item["_id"] for item in body["_embedded"]["items"]]
        if "prev" not in body["_links"]:
            break
        body = admin.get(body["_links"]["prev"]["href"]).json
    assert seen == everything


def test_last_page_is_partial_and_has_no_next(admin, five):
    body = admin.get("/applications?start=4&limit=2").json
    assert len(body["_embedded"]["items"]) == 1
    assert "next" not in body["_links"]
    assert query_of(body["_links"]["prev"]["href"])["start"] == ["2"]


def test_page_exactly_at_the_end_has_no_next(admin, five):
    body = admin.get("/applications?start=3&limit=2").json
    assert len(body["_embedded"]["items"]) == 2
    assert "next" not in body["_links"]


def test_start_past_the_end_is_an_empty_page_with_the_total_count(admin, five):
    body = admin.get("/applications?start=50&limit=2").json
    assert body["_embedded"]["items"] == []
    assert body["count"] == 5
    assert body["start"] == 50
    assert "next" not in body["_links"]
    assert "prev" in body["_links"]


def test_following_next_links_visits_every_item_once(admin, five):
    seen = []
    href = "/applications?limit=2&sortBy=accountName"
    while href:
        body = admin.get(href).json
        seen.extend(item["_id"] for item in body["_embedded"]["items"])
        href = body["_links"].get("next", {}).get("href")
    assert sorted(seen) == sorted(five)
    assert len(seen) == 5


def test_page_links_keep_the_query(admin, five):
    body = admin.get("/applications?limit=2&sortBy=accountName&state=running&q=a").json
    query = query_of(body["_links"]["next"]["href"])
    assert query["sortBy"] == ["accountName"]
    assert query["state"] == ["running"]
    assert query["q"] == ["a"]
    assert query["limit"] == ["2"]


def test_limit_1000_is_allowed(admin, five):
    assert admin.get("/applications?limit=1000").json["limit"] == 1000


@pytest.mark.parametrize("query", ["limit=abc", "start=x", "start=1.5", "start=", "limit=",
                                   "limit=\uff11"])
def test_a_start_or_limit_that_is_not_an_integer_is_400(user, query):
    response = user.get(f"/applications?{query}")
    assert response.status_code == 400
    assert response.json["_error"]["statusCode"] == 400


@pytest.mark.parametrize("query", ["limit=1001", "limit=-1", "start=-1",
                                   "limit=99999999999999999999999"])
def test_an_integer_start_or_limit_out_of_range_is_422(user, query):
    # The reference's rule: well formed but otherwise invalid.
    response = user.get(f"/applications?{query}")
    assert response.status_code == 422
    assert response.json["_error"]["statusCode"] == 422


@pytest.mark.parametrize("query", ["limit=abc", "limit=1001", "start=x", "start=-1"])
def test_every_bad_start_or_limit_is_the_same_error_type(user, query):
    # The query is parsed once, by the collection query: one error type for all.
    error = user.get(f"/applications?{query}").json["_error"]
    assert error["type"] == "invalidQueryParameter"


def test_count_is_the_total_of_matching_items(admin, five):
    assert admin.get("/applications?limit=1").json["count"] == 5


# --- visibility and state views ----------------------------------------------

def test_a_user_sees_only_its_own_applications(client, five):
    own = Api(client, headers_for("u0", USER_SCOPES)).get("/applications")
    assert ids(own) == [five[0]]


def test_running_applications_lists_only_running_ones(app, admin, five):
    force_state(app, five[0], "blocked")
    force_state(app, five[1], "approved")
    assert sorted(ids(admin.get("/runningApplications"))) == sorted(five[2:])


def test_blocked_applications_lists_only_blocked_ones(app, admin, five):
    force_state(app, five[0], "blocked")
    assert ids(admin.get("/blockedApplications")) == [five[0]]


def test_state_view_links_stay_on_the_view(admin, five):
    body = admin.get("/runningApplications?limit=2").json
    assert urlparse(body["_links"]["next"]["href"]).path == f"{BASE}/runningApplications"


# --- sorting -----------------------------------------------------------------

def test_default_order_is_newest_first(admin, five):
    assert ids(admin.get("/applications")) == list(reversed(five))


def test_sort_ascending(admin, five):
    assert names(admin.get("/applications?sortBy=accountName")) == list("abcde")


def test_sort_descending(admin, five):
    assert names(admin.get("/applications?sortBy=-accountName")) == list("edcba")


def test_sort_by_several_keys(app, admin, five):
    force_state(app, five[0], "blocked")  # "e"
    force_state(app, five[3], "blocked")  # "b"
    assert names(admin.get("/applications?sortBy=state,-accountName")) == list("ebdca")


def test_ties_are_ordered_by_id_so_pages_are_stable(admin, five):
    response = admin.get("/applications?sortBy=productName")
    assert ids(response) == sorted(five)
    pages = ids(admin.get("/applications?sortBy=productName&limit=2")) + ids(
        admin.get("/applications?sortBy=productName&start=2&limit=3"))
    assert pages == sorted(five)


def test_unknown_sort_field_is_422(user):
    response = user.get("/applications?sortBy=owner")
    assert response.status_code == 422
    assert response.json["_error"]["attributes"]["field"] == "owner"


# --- simple filters and search -----------------------------------------------

def test_state_alternatives(app, admin, five):
    force_state(app, five[0], "blocked")
    force_state(app, five[1], "canceled")
    response = admin.get("/applications?state=blocked|canceled")
    assert sorted(ids(response)) == sorted(five[:2])


def test_unknown_state_is_422(user):
    assert user.get("/applications?state=running|flying").status_code == 422


def test_name_alternatives(admin, five):
    response = admin.get("/applications?name=a|c")
    assert sorted(names(response)) == ["a", "c"]


def test_simple_filters_combine_with_and(app, admin, five):
    force_state(app, five[4], "blocked")  # "a"
    assert names(admin.get("/applications?name=a|c&state=running")) == ["c"]


def test_applicant_filter_keeps_applications_of_that_contact(client, admin, five):
    body = {**REFERENCE_CREATE_BODY, "applicants": [
        {"contact": {"firstName": "Anna", "_links": {"self": {"href": "https://www.example.com/c/anna"}}}}]}
    anna = Api(client, headers_for("anna", USER_SCOPES)).post("/applications", body).json["_id"]
    assert ids(admin.get("/applications?applicant=https://www.example.com/c/anna")) == [anna]


def test_q_matches_any_word_case_insensitively(client, admin):
    expected = {create(client, "s1", "Holiday Savings"), create(client, "s2", "Rainy DAY")}
    create(client, "s3", "Other")
    assert set(ids(admin.get("/applications?q=holiday day"))) == expected


def test_q_phrase_matches_the_words_together(client, admin):
    wanted = create(client, "s1", "rainy day fund")
    create(client, "s2", "day rainy")
    assert ids(admin.get('/applications?q="rainy day"')) == [wanted]


def test_q_and_requires_both_terms(client, admin):
    wanted = create(client, "s1", "holiday fund")
    create(client, "s2", "holiday")
    create(client, "s3", "fund")
    assert ids(admin.get("/applications?q=holiday and fund")) == [wanted]


def test_q_searches_the_other_name_fields(admin, five):
    # every sample's applicant is Elsa Snowqueen and the product Premiere Savings
    assert len(ids(admin.get("/applications?q=snowqueen"))) == 5
    assert len(ids(admin.get("/applications?q=premiere"))) == 5


def test_q_treats_like_wildcards_literally(client, admin):
    create(client, "s1", "100% interest")
    create(client, "s2", "100 interest")
    assert names(admin.get("/applications?q=100%25")) == ["100% interest"]


def words(count: int, glue: str = " ") -> str:
    """``count`` distinct search words, ``word0`` ... joined by ``glue``."""
    return glue.join(f"word{index}" for index in range(count))


@pytest.mark.parametrize("glue", [" ", " and "])
def test_a_search_of_many_words_is_one_shallow_query(app, client, admin, glue):
    # a chain of one OR/AND per word overflowed SQLite's parser at 20 words
    # and Python's recursion limit at about 115
    text = words(MAX_SEARCH_TERMS, glue)  # with " and ": the keyword is no term
    wanted = create(client, "s1", words(MAX_SEARCH_TERMS))  # every word: every group matches
    create(client, "s2", "other")
    assert ids(admin.get(f"/applications?q={quote(text)}")) == [wanted]
    assert admin.get(f"/enrollments?q={quote(text)}").status_code == 200
    with app.app_context():
        for spec in (applications.COLLECTION, enrollments.COLLECTION):
            sql, _params = Application.select().where(search_expression(spec, text)).sql()
            assert nesting(sql) <= 10, spec.name


@pytest.mark.parametrize("path", ["/applications", "/enrollments"])
@pytest.mark.parametrize("text", [words(MAX_SEARCH_TERMS + 1),
                                  words(MAX_SEARCH_TERMS + 1, " and ")])
def test_more_search_words_than_the_limit_is_400(admin, path, text):
    response = admin.get(f"{path}?q={quote(text)}")
    assert response.status_code == 400
    error = response.json["_error"]
    assert error["type"] == "invalidQueryParameter"
    assert error["attributes"]["name"] == "q"
    assert f"at most {MAX_SEARCH_TERMS} terms" in error["message"]



@pytest.mark.parametrize("query", [
    "q=" + quote(words(500)),
    "filter=" + quote("in(accountName," + ",".join(f"name{i}" for i in range(300)) + ")"),
])
@pytest.mark.parametrize("path", ["/applications", "/enrollments"])
def test_a_query_longer_than_a_link_can_repeat_is_400(admin, path, query):
    response = admin.get(f"{path}?{query}")
    assert response.status_code == 400
    error = response.json["_error"]
    assert error["type"] == "queryTooLong"
    assert error["attributes"]["maximum"] == MAX_QUERY_LENGTH


def test_the_longest_query_allowed_has_links_within_the_href_limit(admin, application):
    names = [f"name{i:04d}" for i in range(400)]

    def query() -> str:
        return urlencode({"sortBy": "-createdAt",
                          "filter": "in(accountName," + ",".join(names) + ")"}, safe=",|()")

    while len(query()) > MAX_QUERY_LENGTH:
        names.pop()
    assert len(query()) > MAX_QUERY_LENGTH - 20
    response = admin.get(f"/applications?{query()}")
    assert response.status_code == 200, response.json
    assert all(len(link["href"]) <= 2048 for link in response.json["_links"].values())


def test_missing_values_sort_last_in_both_directions(client, admin):
    with_org = create(client, "o1", "org", organization={"name": "Acme"})
    without = create(client, "o2", "no org")
    assert ids(admin.get("/applications?sortBy=organizationName")) == [with_org, without]
    assert ids(admin.get("/applications?sortBy=-organizationName")) == [with_org, without]


def _anna(client) -> tuple[Api, str, str]:
    body = {**REFERENCE_CREATE_BODY, "applicants": [
        {"contact": {"firstName": "Anna", "_links": {"self": {"href": "https://www.example.com/c/anna"}}}}]}
    anna = Api(client, headers_for("anna", USER_SCOPES))
    created = anna.post("/applications", body)
    return anna, created.json["_id"], created.headers["ETag"]


def test_applicant_filter_follows_a_patch_of_the_contacts(client, admin):
    anna, app_id, etag = _anna(client)
    changed = anna.patch(f"/applications/{app_id}", {"applicants": [{"contact": {
        "firstName": "Anna", "_links": {"self": {"href": "https://www.example.com/c/anna2"}}}}]},
        headers={"If-Match": etag})
    assert changed.status_code == 200, changed.json
    assert ids(admin.get("/applications?applicant=https://www.example.com/c/anna")) == []
    assert ids(admin.get("/applications?applicant=https://www.example.com/c/anna2")) == [app_id]


def test_applicant_filter_survives_a_patch_of_other_fields(client, admin):
    anna, app_id, etag = _anna(client)
    changed = anna.patch(f"/applications/{app_id}", {"accountName": "Renamed"},
                         headers={"If-Match": etag})
    assert changed.status_code == 200, changed.json
    assert ids(admin.get("/applications?applicant=https://www.example.com/c/anna")) == [app_id]
