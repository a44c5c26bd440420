"""The security matrix: every operation of the service, every way to be refused.

Operations come from the app's URL map, so an operation added later is covered
without touching this file: its scope comes from its ``requires(...)``
declaration, the resource it names from the :class:`~accountapps.domain.lifecycle.Kind`
whose path it lies under, and an action collection from the Kind's actions.

The app here is configured with an audience and an issuer, so that a token for
another audience is refused too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from conftest import API_KEY, REFERENCE_CREATE_BODY, SECRET, Api
from enrollment_support import enrollment_body
from events_support import settle
from operations import COLLECTIONS, ON_A_RESOURCE, OPERATIONS, PROTECTED, Operation, ids, kinds

from accountapps.domain.lifecycle import Kind

AUDIENCE = "accountApplications"
ISSUER = "https://idp.example.com/"
OWNER, STRANGER, ADMINISTRATOR = "owner-1", "stranger-1", "admin-1"
#: Every non-administrative scope (no ``*/full``, which would imply the rest).
ALL_USER_SCOPES = ("banking/read", "banking/write", "banking/delete", "profiles/readPii",
                   "profiles/read", "profiles/write")
ADMIN_SCOPES = "banking/full admin/full profiles/full"
#: "Premiere Savings": offered to one applicant type in one country, so its
#: requirements need no query
CATALOG_PRODUCT = "51df9a81-2cb8-4515-aad1-9543b3c4fc18"
OWNER_SCOPES = "banking/read banking/write banking/delete profiles/readPii"


def bearer(sub: str, scopes: str, *, secret: str = SECRET, **changes: Any) -> str:
    now = int(time.time())
    claims = {"sub": sub, "scope": scopes, "iat": now, "nbf": now, "exp": now + 600,
              "aud": AUDIENCE, "iss": ISSUER, **changes}
    return jwt.encode(claims, secret, algorithm="HS256")


def headers(sub: str, scopes: str, **changes: Any) -> dict[str, str]:
    return {"API-Key": API_KEY, "Authorization": f"Bearer {bearer(sub, scopes, **changes)}"}


# --- the app, the callers and one resource of the owner ------------------------------

@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "ACCOUNTAPPS_JWT_AUDIENCE": AUDIENCE,
            "ACCOUNTAPPS_JWT_ISSUER": ISSUER}


@pytest.fixture
def owner(client) -> Api:
    return Api(client, headers(OWNER, OWNER_SCOPES))


@pytest.fixture
def stranger(client) -> Api:
    return Api(client, headers(STRANGER, OWNER_SCOPES))


@pytest.fixture
def administrator(client) -> Api:
    return Api(client, headers(ADMINISTRATOR, ADMIN_SCOPES))


def create_application(api: Api) -> Any:
    return api.post("/applications", REFERENCE_CREATE_BODY)


def create_enrollment(api: Api) -> Any:
    return api.post("/enrollments", enrollment_body())


#: kind name -> how to create one as a given caller. A new kind needs an entry here.
FACTORIES = {"application": create_application, "enrollment": create_enrollment}


@dataclass
class Resource:
    kind: Kind | None  # None: the institution's own (a webhook subscription)
    id: str
    etag: str
    body: dict[str, Any]


def make_resource(api: Api, kind: Kind) -> Resource:
    factory = FACTORIES.get(kind.name)
    if factory is None:
        pytest.fail(f"tests/test_security_matrix.py: add a FACTORIES entry for {kind.name!r}")
    response = factory(api)
    assert response.status_code == 201, response.json
    return Resource(kind, response.json["_id"], response.headers["ETag"], response.json)


#: last path segment of an item POST (an operation on one resource) -> a valid body for
#: it, so that what refuses the request is the caller, not the body. A new one needs an entry.
ITEM_POST_BODIES = {
    "identityVerifications": lambda target: {
        "applicant": target.body["applicants"][0]["_id"], "result": "verified"},
    "documentReviews": lambda target: {"document": "document-1", "decision": "accepted"},
}


#: An institution operation's body (the event feed and the webhooks), by method and last
#: path segment. A new one needs an entry.
INSTITUTION_BODIES = {
    ("POST", "webhookSubscriptions"): {"url": "https://93.184.215.14/hooks", "events": ["*"]},
    ("PATCH", "<webhook_subscription_id>"): {"paused": True},
    ("POST", "redeliveries"): {},
}


def make_institution_target(owner: Api) -> Resource:
    """A webhook subscription and an event (of the owner's new application)."""
    make_resource(owner, kinds_by_name()["application"])
    administrator = Api(owner.client, headers(ADMINISTRATOR, ADMIN_SCOPES))
    created = administrator.post("/webhookSubscriptions", INSTITUTION_BODIES[
        ("POST", "webhookSubscriptions")])
    assert created.status_code == 201, created.json
    settle(administrator)
    event = administrator.get("/events").json["_embedded"]["items"][0]
    return Resource(None, created.json["_id"], created.headers["ETag"],
                    {**created.json, "event": event["_id"]})


def kinds_by_name() -> dict[str, Kind]:
    return {kind.name: kind for kind in kinds()}


def institution_request(op: Operation, target: Resource) -> tuple[str, Any, dict[str, str]]:
    """Path, body and headers of an institution operation on ``target``."""
    path = op.rule.removeprefix("/accountApplications")
    path = path.replace("<webhook_subscription_id>", target.id).replace(
        "<event_id>", target.body["event"])
    key = (op.method, op.rule.rsplit("/", 1)[-1])
    if op.method in ("POST", "PATCH") and key not in INSTITUTION_BODIES:
        pytest.fail(f"tests/test_security_matrix.py: add an INSTITUTION_BODIES entry for {op.id}")
    return path, INSTITUTION_BODIES.get(key), {"If-Match": target.etag}


def item_post_body(op: Operation, target: Resource) -> dict[str, Any]:
    make = ITEM_POST_BODIES.get(op.rule.rsplit("/", 1)[-1])
    if make is None:
        pytest.fail(f"tests/test_security_matrix.py: add an ITEM_POST_BODIES entry for {op.id}")
    return make(target)


def request(api: Api, op: Operation, target: Resource | None, **kw: Any):
    """Call ``op`` on ``target`` (the owner's resource) with a plausible request."""
    path = op.rule.removeprefix("/accountApplications")
    extra_headers = dict(kw.pop("headers", {}) or {})
    body = None
    if op.role == "item":
        first, *rest = op.arguments
        path = path.replace(f"<{first}>", target.id)
        for name in rest:
            path = path.replace(f"<{name}>", "0")
        extra_headers["If-Match"] = target.etag
        if op.method in ("PUT", "PATCH"):
            body = target.body
        elif op.method == "POST":
            body = item_post_body(op, target)
    elif op.role == "action":
        path = f"{path}?{op.kind.param}={target.id}"
    elif op.role == "catalog":
        for name in op.arguments:  # a product of the shipped catalog
            path = path.replace(f"<{name}>", CATALOG_PRODUCT)
    elif op.role == "institution":
        path, body, more = institution_request(op, target)
        extra_headers.update(more)
    elif op.role == "create":
        body = (REFERENCE_CREATE_BODY if op.kind.name == "application" else enrollment_body()
                ) if op.kind else {}
    return api.call(op.method, path, body, headers=extra_headers, **kw)


@pytest.fixture
def target(owner, request) -> Resource | None:
    """The owner's resource the operation names (if it names one)."""
    op: Operation = request.node.callspec.params["op"]
    if op.role == "institution":
        return make_institution_target(owner)
    if op.kind is None or op.role not in ("item", "action", "collection"):
        return None
    return make_resource(owner, op.kind)


def assert_error(response, status: int) -> None:
    assert response.status_code == status, (response.status_code, response.get_json())
    error = response.json["_error"]
    assert error["statusCode"] == status
    assert response.mimetype == "application/hal+json"


def assert_unauthorized(response) -> None:
    assert_error(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def assert_unchanged(owner: Api, target: Resource | None) -> None:
    if target is not None and target.kind is not None and target.kind.name == "application":
        response = owner.get(f"{target.kind.path}/{target.id}")
        assert response.status_code == 200
        assert response.headers["ETag"] == target.etag


# --- the matrix -----------------------------------------------------------------------

def test_the_matrix_covers_the_application_operations():
    covered = {op.id for op in OPERATIONS}
    assert {"GET /accountApplications/applications",
            "POST /accountApplications/applications",
            "GET /accountApplications/applications/<application_id>",
            "PUT /accountApplications/applications/<application_id>",
            "PATCH /accountApplications/applications/<application_id>",
            "DELETE /accountApplications/applications/<application_id>",
            "POST /accountApplications/approvedApplications",
            "POST /accountApplications/canceledApplications"} <= covered


@pytest.mark.parametrize("op", OPERATIONS, ids=ids(OPERATIONS))
def test_every_operation_is_classified(op):
    assert op.role != "unknown", f"{op.id}: not under a Kind's path; teach classify() about it"


@pytest.mark.parametrize("op", PROTECTED, ids=ids(PROTECTED))
def test_every_operation_declares_a_scope(op):
    assert op.scope, f"{op.id} has no requires(...): it is refused to everybody"


@pytest.mark.parametrize("op", OPERATIONS, ids=ids(OPERATIONS))
def test_no_credentials_is_401(client, owner, op, target):
    assert_unauthorized(request(Api(client, {}), op, target))
    assert_unchanged(owner, target)


@pytest.mark.parametrize("op", OPERATIONS, ids=ids(OPERATIONS))
def test_a_bad_api_key_is_401(client, owner, op, target):
    api = Api(client, {**headers(OWNER, ADMIN_SCOPES), "API-Key": "not-a-valid-key"})
    assert_unauthorized(request(api, op, target))
    assert_unchanged(owner, target)


@pytest.mark.parametrize("op", PROTECTED, ids=ids(PROTECTED))
def test_no_token_is_401(client, owner, op, target):
    assert_unauthorized(request(Api(client, {"API-Key": API_KEY}), op, target))
    assert_unchanged(owner, target)


@pytest.mark.parametrize("op", PROTECTED, ids=ids(PROTECTED))
def test_a_bad_signature_is_401(client, owner, op, target):
    forged = headers(OWNER, ADMIN_SCOPES, secret="an-attackers-secret-that-is-long-enough-0")
    assert_unauthorized(request(Api(client, forged), op, target))
    assert_unchanged(owner, target)


@pytest.mark.parametrize("op", PROTECTED, ids=ids(PROTECTED))
def test_an_expired_token_is_401(client, owner, op, target):
    now = int(time.time())
    expired = headers(OWNER, ADMIN_SCOPES, iat=now - 7200, nbf=now - 7200, exp=now - 3600)
    assert_unauthorized(request(Api(client, expired), op, target))
    assert_unchanged(owner, target)


@pytest.mark.parametrize("op", PROTECTED, ids=ids(PROTECTED))
def test_a_wrong_audience_is_401(client, owner, op, target):
    api = Api(client, headers(OWNER, ADMIN_SCOPES, aud="another-api"))
    assert_unauthorized(request(api, op, target))
    assert_unchanged(owner, target)


@pytest.mark.parametrize("op", PROTECTED, ids=ids(PROTECTED))
def test_a_wrong_issuer_is_401(client, owner, op, target):
    api = Api(client, headers(OWNER, ADMIN_SCOPES, iss="https://evil.example/"))
    assert_unauthorized(request(api, op, target))
    assert_unchanged(owner, target)


@pytest.mark.parametrize("op", PROTECTED, ids=ids(PROTECTED))
def test_too_little_scope_is_403(client, owner, op, target):
    scopes = " ".join(s for s in ALL_USER_SCOPES if s != op.scope)
    response = request(Api(client, headers(OWNER, scopes)), op, target)
    assert_error(response, 403)
    assert response.json["_error"]["attributes"]["requiredScope"] == op.scope
    assert_unchanged(owner, target)


@pytest.mark.parametrize("op", ON_A_RESOURCE, ids=ids(ON_A_RESOURCE))
def test_another_users_resource_is_as_missing(owner, stranger, op, target):
    # 404 on the resource's own paths; 400 ("names none of yours") on action collections.
    response = request(stranger, op, target)
    assert_error(response, 404 if op.role == "item" else 400)
    assert_unchanged(owner, target)


@pytest.mark.parametrize("op", ON_A_RESOURCE, ids=ids(ON_A_RESOURCE))
def test_another_users_resource_answers_like_a_missing_one(stranger, owner, op, target):
    missing = Resource(target.kind, "00000000-0000-4000-8000-000000000000", target.etag,
                       target.body)
    theirs = request(stranger, op, target).json["_error"]
    absent = request(stranger, op, missing).json["_error"]
    assert (theirs["statusCode"], theirs["type"]) == (absent["statusCode"], absent["type"])


def leak_attempts(target: Resource) -> list[dict[str, str]]:
    contact = ((target.body.get("applicants") or [{}])[0].get("contact") or {})
    contact_uri = ((contact.get("_links") or {}).get("self") or {}).get(
        "href", "https://www.example.com/users/user/x")
    return [
        {},
        {"applicant": contact_uri},
        {"filter": f"eq(state,{target.body.get('state', 'running')})"},
        {"filter": "or(eq(state,running),ne(state,running))"},
        {"filter": "isNotNull(createdAt)"},
        {"q": "Snowqueen"},
        {"state": "running|blocked|pending|canceled|expired|rejected|approved"},
        {"name": target.body.get("accountName") or "x"},
        {"sortBy": "-createdAt", "limit": "1000"},
    ]


@pytest.mark.parametrize("op", COLLECTIONS, ids=ids(COLLECTIONS))
def test_collections_never_list_another_users_resources(owner, stranger, op, target):
    path = op.rule.removeprefix("/accountApplications")
    mine = owner.get(path)
    assert mine.status_code == 200
    assert op.rule.endswith(("blockedApplications",)) or target.id in str(mine.json)
    for query in leak_attempts(target):
        response = stranger.get(path, query_string=query)
        assert response.status_code in (200, 400, 422), (query, response.json)
        assert target.id not in response.get_data(as_text=True), query
        if response.status_code == 200:
            assert response.json["count"] == 0, query


@pytest.mark.parametrize("op", PROTECTED, ids=ids(PROTECTED))
def test_an_administrator_is_allowed(owner, administrator, op, target):
    response = request(administrator, op, target)
    assert response.status_code not in (401, 403, 404), response.get_json()
    assert response.status_code < 500, response.get_json()


def test_an_administrator_finds_applications_by_applicant(owner, administrator):
    created = make_resource(owner, next(k for k in kinds() if k.name == "application"))
    contact = created.body["applicants"][0]["contact"]["_links"]["self"]["href"]
    response = administrator.get("/applications", query_string={"applicant": contact})
    assert [item["_id"] for item in response.json["_embedded"]["items"]] == [created.id]


def test_an_unknown_path_is_404_as_an_error_response(client):
    assert_error(Api(client, {}).get("/no/such/thing"), 404)
