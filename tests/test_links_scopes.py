"""Links reflect the token's scopes: a link is present only if following it is allowed.

An operation link (an action, the institution's inputs) appears only when the
token holds the scope the linked route declares with ``requires(...)``. Here that
scope is read the way the security matrix reads it: from the view the link's href
routes to in the app's URL map, never from a copy in this file.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import pytest
from conftest import ADMIN_SCOPES, USER_SCOPES, Api, headers_for
from db_helpers import force_state
from enrollment_support import complete_requirements, create
from operations import kinds
from workflow_support import (
    PERSONAL_CHECKING,
    complete_personal,
    document,
    href,
    ready_for_approval,
)

from accountapps.auth.principal import Principal
from accountapps.auth.security import may_call, route_scope

INSTITUTION_RELS = ("apiture:identityVerifications", "apiture:documentReviews")
#: Every rel whose link is an operation (a POST): the Kinds' actions and the institution's.
OPERATION_RELS = frozenset(
    {f"apiture:{action.rel}" for kind in kinds() for action in kind.actions.values()}
    | set(INSTITUTION_RELS))

#: The administrator of the reported bug: acts for the institution, may only read.
ADMIN_READ_ONLY = "banking/read admin/full profiles/full"
#: The least an administrator needs to take the institution's actions.
ADMIN_LEAST = "banking/read banking/write admin/write"
IN_PROGRESS = ("running", "blocked")


def as_caller(client, sub: str, scopes: str) -> Api:
    return Api(client, headers_for(sub, scopes))


def scope_needed(app, link: dict[str, Any]) -> str | None:
    """The scope the route a POST to ``link`` reaches declares (from its view)."""
    path = urlparse(link["href"]).path
    endpoint, _args = app.url_map.bind("localhost").match(path, method="POST")
    return getattr(app.view_functions[endpoint], "required_scope", None)


def operation_links(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {rel: link for rel, link in body["_links"].items() if rel in OPERATION_RELS}


@pytest.fixture
def with_document(user):
    """A blocked application of ``user-1``: a document and an identity await the institution."""
    created = user.post("/applications", complete_personal(
        PERSONAL_CHECKING, documents=[document("governmentId")]))
    assert created.status_code == 201, created.json
    assert created.json["state"] == "blocked"
    return created


# --- the helper reads the route's own declaration ------------------------------------

def test_route_scope_is_the_views_declared_scope(app):
    with app.app_context():
        for rule in app.url_map.iter_rules():
            path = rule.rule
            for name in rule.arguments:
                path = path.replace(f"<{name}>", "{id}")
            for method in rule.methods - {"HEAD", "OPTIONS"}:
                declared = getattr(app.view_functions[rule.endpoint], "required_scope", None)
                assert route_scope(method, path) == declared, (method, rule.rule)


def test_route_scope_refuses_a_path_no_route_answers(app):
    with app.app_context(), pytest.raises(LookupError):
        route_scope("POST", "/accountApplications/noSuchActions")


def test_a_route_declaring_no_scope_is_never_linked(app, monkeypatch):
    # Default deny, as authenticate(): a view without requires(...) is refused to everybody.
    view = app.view_functions["applications.approveApplication"]
    monkeypatch.delattr(view, "required_scope")
    with app.app_context():
        principal = Principal("admin-1", frozenset(ADMIN_SCOPES.split()), "client")
        assert not may_call(principal, "POST", "/accountApplications/approvedApplications")


# --- the institution's inputs on an application and on its workflow --------------------

@pytest.mark.parametrize("path", ["", "/workflow"])
@pytest.mark.parametrize("state", IN_PROGRESS)
def test_an_administrator_without_write_sees_no_institution_links(app, client, with_document,
                                                                  path, state):
    force_state(app, with_document.json["_id"], state)
    reader = as_caller(client, "admin-1", ADMIN_READ_ONLY)
    links = reader.get(href(with_document.json, "self") + path).json["_links"]
    assert not set(INSTITUTION_RELS) & set(links)


@pytest.mark.parametrize("path", ["", "/workflow"])
@pytest.mark.parametrize("state", IN_PROGRESS)
def test_an_administrator_with_write_sees_the_institution_links(app, client, with_document,
                                                                path, state):
    force_state(app, with_document.json["_id"], state)
    officer = as_caller(client, "admin-1", ADMIN_LEAST)
    links = officer.get(href(with_document.json, "self") + path).json["_links"]
    assert set(INSTITUTION_RELS) <= set(links)


def _institution_bodies(application: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {
        "apiture:identityVerifications": {"applicant": application["applicants"][0]["_id"],
                                          "result": "verified"},
        "apiture:documentReviews": {"document": application["documents"][0]["_id"],
                                    "decision": "accepted"},
    }


@pytest.mark.parametrize("rel", INSTITUTION_RELS)
def test_following_an_institution_link_with_the_least_scope_succeeds(client, with_document, rel):
    officer = as_caller(client, "admin-1", ADMIN_LEAST)
    seen = officer.get(href(with_document.json, "self")).json
    response = officer.post(href(seen, rel), json=_institution_bodies(seen)[rel])
    assert response.status_code == 200, response.json


@pytest.mark.parametrize("rel", INSTITUTION_RELS)
def test_the_hidden_institution_link_would_have_been_refused(client, with_document, rel):
    seen = as_caller(client, "admin-1", ADMIN_LEAST).get(href(with_document.json, "self")).json
    reader = as_caller(client, "admin-1", ADMIN_READ_ONLY)
    response = reader.post(href(seen, rel), json=_institution_bodies(seen)[rel])
    assert response.status_code == 403
    assert response.json["_error"]["type"] == "insufficientScope"


def test_the_workflow_shows_approve_only_with_write(client, user, admin):
    ready = ready_for_approval(user, admin)
    workflow = href(ready.json, "apiture:workflow")
    reader = as_caller(client, "admin-1", ADMIN_READ_ONLY)
    assert "apiture:approve" not in reader.get(workflow).json["_links"]
    officer = as_caller(client, "admin-1", ADMIN_LEAST)
    approve = href(officer.get(workflow).json, "apiture:approve")
    response = officer.post(approve)
    assert response.status_code == 200, response.json
    assert response.json["state"] == "approved"


# --- enrollments -------------------------------------------------------------------------

def test_an_administrator_without_write_sees_no_enrollment_actions(client, user, admin):
    enrollment = create(user)
    complete_requirements(user, admin, enrollment.headers["Location"])
    reader = as_caller(client, "admin-1", ADMIN_READ_ONLY)
    links = reader.get(enrollment.headers["Location"]).json["_links"]
    assert not {"apiture:approve", "apiture:reject"} & set(links)


@pytest.mark.parametrize("rel, state", [("apiture:approve", "approved"),
                                        ("apiture:reject", "rejected")])
def test_following_an_enrollment_link_with_the_least_scope_succeeds(client, user, admin,
                                                                     rel, state):
    enrollment = create(user)
    complete_requirements(user, admin, enrollment.headers["Location"])
    officer = as_caller(client, "admin-1", ADMIN_LEAST)
    link = href(officer.get(enrollment.headers["Location"]).json, rel)
    refused = as_caller(client, "admin-1", ADMIN_READ_ONLY).post(link)
    assert refused.status_code == 403
    assert refused.json["_error"]["type"] == "insufficientScope"
    response = officer.post(link)
    assert response.status_code == 200, response.json
    assert response.json["state"] == state


# --- every operation link present is one the token may follow ----------------------------

#: Tokens around the scopes the routes require: each with and without write, as owner
#: (``owner``: the resource's creator) or as an administrator.
TOKENS = [
    ("owner", "banking/read"),
    ("owner", "banking/read banking/delete"),
    ("owner", "banking/read banking/write"),
    ("owner", USER_SCOPES),
    ("admin", ADMIN_READ_ONLY),
    ("admin", "banking/read admin/write"),
    ("admin", "banking/read banking/delete admin/write"),
    ("admin", ADMIN_LEAST),
    ("admin", ADMIN_SCOPES),
]


@pytest.mark.parametrize("who, scopes", TOKENS, ids=[f"{w}:{s}" for w, s in TOKENS])
def test_every_operation_link_needs_only_scopes_the_token_holds(app, client, admin, who,
                                                                scopes):
    owners = {name: as_caller(client, name, USER_SCOPES)
              for name in ("ready", "documents", "enrolled", "enrolling")}
    ready = ready_for_approval(owners["ready"], admin)
    documents = owners["documents"].post("/applications", complete_personal(
        PERSONAL_CHECKING, documents=[document("governmentId")]))
    enrolled = create(owners["enrolled"])
    complete_requirements(owners["enrolled"], admin, enrolled.headers["Location"])
    enrolling = create(owners["enrolling"])
    granted = Principal("-", frozenset(scopes.split()), "-")
    seen = 0
    for owner, created, states in (
            ("ready", ready, ("pending", "running", "blocked")),
            ("documents", documents, ("pending", "running", "blocked")),
            ("enrolled", enrolled, (None,)),
            ("enrolling", enrolling, (None,))):
        caller = as_caller(client, owner if who == "owner" else "admin-1", scopes)
        paths = [href(created.json, "self")]
        if "apiture:workflow" in created.json["_links"]:
            paths.append(href(created.json, "apiture:workflow"))
        for state in states:
            if state is not None:
                force_state(app, created.json["_id"], state)
            for path in paths:
                response = caller.get(path)
                assert response.status_code == 200, response.json
                for rel, link in operation_links(response.json).items():
                    seen += 1
                    assert granted.has(scope_needed(app, link)), (rel, state, path)
    holds_write = granted.has("banking/write")
    assert (seen > 0) == holds_write, "a token with write sees operation links; without, none"
