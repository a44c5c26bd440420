"""The state machine: action collections, the links that lead to them, delete rules."""

from __future__ import annotations

import itertools
from urllib.parse import parse_qs, urlparse

import pytest
from conftest import (
    ADMIN_SCOPES,
    API_KEY,
    BASE,
    USER_SCOPES,
    Api,
    headers_for,
)
from db_helpers import audit_records, force_state, row
from workflow_support import complete_personal, ready_for_approval, verify_all

STATES = ("pending", "running", "blocked", "canceled", "expired", "rejected", "approved")
TERMINAL = ("canceled", "expired", "rejected", "approved")

#: target state -> action collection
ACTIONS = {
    "expired": "/expiredApplications",
    "rejected": "/rejectedApplications",
    "approved": "/approvedApplications",
    "canceled": "/canceledApplications",
    "running": "/runningApplications",
}

#: The contract's state machine (``pending`` is reserved: it may start, or end unused).
ALLOWED = {
    "pending": {"running", "canceled", "expired"},
    "running": {"canceled", "expired", "approved", "rejected"},
    "blocked": {"running", "canceled", "expired", "approved", "rejected"},
    **{state: set() for state in TERMINAL},
}

REL_TARGET = {"apiture:approve": "approved", "apiture:reject": "rejected",
              "apiture:cancel": "canceled", "apiture:expire": "expired",
              "apiture:start": "running"}

#: The action links each caller sees, by state.
APPLICANT_LINKS = {
    "pending": {"apiture:cancel"},
    "running": {"apiture:cancel"},
    "blocked": {"apiture:cancel"},
    **{state: set() for state in TERMINAL},
}
ADMIN_LINKS = {
    "pending": {"apiture:start", "apiture:cancel", "apiture:expire"},
    "running": {"apiture:approve", "apiture:reject", "apiture:cancel", "apiture:expire"},
    "blocked": {"apiture:approve", "apiture:reject", "apiture:cancel", "apiture:expire",
                "apiture:start"},
    **{state: set() for state in TERMINAL},
}

_owners = itertools.count()


@pytest.fixture
def new_application(app, client, admin):
    """``new_application(state)``: an application of a fresh user, in ``state``.

    Its checklist is complete but for the approval, so that the state alone decides
    which actions are open (the workflow refuses to approve while a blocker remains).
    """

    def make(state: str = "running") -> tuple[Api, str]:
        owner = Api(client, headers_for(f"owner-{next(_owners)}", USER_SCOPES))
        response = ready_for_approval(owner, admin)
        assert response.json["state"] == "running", response.json
        app_id = response.json["_id"]
        if state != "running":
            force_state(app, app_id, state)
        return owner, app_id

    return make


def act(api: Api, target: str, application: str, **kwargs):
    return api.post(f"{ACTIONS[target]}?application={application}", **kwargs)


def action_rels(body: dict) -> set[str]:
    return {rel for rel in body["_links"] if rel in REL_TARGET}


# --- every transition from every state ---------------------------------------

@pytest.mark.parametrize("state, target", [
    (state, target) for state in STATES for target in ACTIONS
    if target in ALLOWED[state]])
def test_allowed_transition_is_200_with_the_new_state(admin, new_application, state, target):
    _owner, app_id = new_application(state)
    response = act(admin, target, app_id)
    assert response.status_code == 200, response.json
    assert response.json["state"] == target
    assert admin.get(f"/applications/{app_id}").json["state"] == target


@pytest.mark.parametrize("state, target", [
    (state, target) for state in STATES for target in ACTIONS
    if target not in ALLOWED[state] and target != state])
def test_forbidden_transition_is_409_naming_the_current_state(admin, new_application, state,
                                                               target):
    _owner, app_id = new_application(state)
    response = act(admin, target, app_id)
    assert response.status_code == 409
    error = response.json["_error"]
    assert error["attributes"]["state"] == state
    assert state in error["message"]
    assert admin.get(f"/applications/{app_id}").json["state"] == state


@pytest.mark.parametrize("state", [s for s in STATES if s in ACTIONS])
def test_asking_for_the_current_state_is_a_200_noop(app, admin, new_application, state):
    _owner, app_id = new_application(state)
    before = admin.get(f"/applications/{app_id}")
    trail = len(audit_records(app, app_id))
    response = act(admin, state, app_id)
    assert response.status_code == 200
    assert response.json["state"] == state
    assert response.headers["ETag"] == before.headers["ETag"]
    assert len(audit_records(app, app_id)) == trail


def self_href(response) -> str:
    return response.json["_links"]["self"]["href"]


def test_transition_answers_the_new_etag(admin, approvable):
    response = act(admin, "approved", approvable.json["_id"])
    assert response.headers["ETag"] != approvable.headers["ETag"]
    assert admin.get(self_href(approvable)).headers["ETag"] == response.headers["ETag"]


# --- naming the application --------------------------------------------------

def test_application_may_be_named_by_its_uri(admin, approvable):
    response = act(admin, "approved", self_href(approvable))
    assert response.status_code == 200
    assert response.json["state"] == "approved"


def test_application_may_be_named_by_its_path(admin, approvable):
    response = act(admin, "approved", f"{BASE}/applications/{approvable.json['_id']}")
    assert response.status_code == 200


@pytest.mark.parametrize("value", [
    "00000000-0000-0000-0000-000000000000",
    "http://localhost/accountApplications/applications/00000000-0000-0000-0000-000000000000",
    "http://localhost/accountApplications/enrollments/{id}",
    "not an id!",
    "../../etc/passwd",
    "x" * 300,
    "http://[::1",
    "http://[invalid]/accountApplications/applications/{id}",
])
def test_application_naming_no_application_is_400(admin, application, value):
    response = act(admin, "approved", value.replace("{id}", application.json["_id"]))
    assert response.status_code == 400
    assert response.json["_error"]["statusCode"] == 400


def test_missing_application_parameter_is_400(admin):
    response = admin.post("/approvedApplications")
    assert response.status_code == 400
    assert response.json["_error"]["attributes"]["name"] == "application"


def test_someone_elses_application_is_400_like_an_unknown_one(other, application):
    response = act(other, "canceled", application.json["_id"])
    assert response.status_code == 400
    assert row(other.client.application, application.json["_id"]).state == "running"


# --- who may do what ---------------------------------------------------------

@pytest.mark.parametrize("target", ["approved", "rejected", "expired", "running"])
def test_applicant_may_not_take_institution_actions(user, application, target):
    response = act(user, target, application.json["_id"])
    assert response.status_code == 403
    assert user.get(application.headers["Location"]).json["state"] == "running"


def test_applicant_may_cancel_its_own_application(user, application):
    response = act(user, "canceled", application.json["_id"])
    assert response.status_code == 200
    assert response.json["state"] == "canceled"


def test_administrator_may_cancel_anyones_application(admin, application):
    assert act(admin, "canceled", application.json["_id"]).status_code == 200


def test_admin_write_without_full_is_enough_to_approve(client, approvable):
    approver = Api(client, headers_for("ops", "banking/read banking/write admin/write"))
    assert act(approver, "approved", approvable.json["_id"]).status_code == 200


def test_stale_if_match_on_an_action_is_412(user, admin, application):
    user.patch(application.headers["Location"], {"accountName": "x"},
               headers={"If-Match": application.headers["ETag"]})
    response = act(admin, "approved", application.json["_id"],
                   headers={"If-Match": application.headers["ETag"]})
    assert response.status_code == 412


def test_reason_in_the_body_is_recorded(app, admin, application):
    act(admin, "rejected", application.json["_id"], json={"reason": "Incomplete funding."})
    assert audit_records(app, application.json["_id"])[-1].reason == "Incomplete funding."


# --- side effects of transitions ---------------------------------------------

def test_cancel_cancels_the_workflow(user, application):
    response = act(user, "canceled", application.json["_id"])
    assert response.json["workflowState"] == "canceled"


def test_approve_completes_the_workflow_and_the_approval(admin, approvable):
    body = act(admin, "approved", approvable.json["_id"]).json
    assert body["workflowState"] == "completed"
    assert body["accountApproval"]["state"] == "approved"
    assert body["accountApproval"]["done"] is True


@pytest.mark.parametrize("target", TERMINAL)
def test_terminal_state_sets_completed_at(admin, approvable, target):
    body = act(admin, target, approvable.json["_id"]).json
    assert body["completedAt"] is not None
    assert body["completedAt"] >= body["createdAt"]


def test_start_leaves_completed_at_empty(admin, new_application):
    _owner, app_id = new_application("blocked")
    assert act(admin, "running", app_id).json["completedAt"] is None


# --- links: exactly what the caller may do now -------------------------------

@pytest.mark.parametrize("state", STATES)
def test_applicant_sees_links_for_exactly_its_actions(new_application, state):
    owner, app_id = new_application(state)
    assert action_rels(owner.get(f"/applications/{app_id}").json) == APPLICANT_LINKS[state]


@pytest.mark.parametrize("state", STATES)
def test_administrator_sees_links_for_exactly_its_actions(admin, new_application, state):
    _owner, app_id = new_application(state)
    assert action_rels(admin.get(f"/applications/{app_id}").json) == ADMIN_LINKS[state]


@pytest.mark.parametrize("state", ["running", "blocked"])
def test_administrator_sees_no_approve_link_while_a_blocker_remains(app, admin, application,
                                                                     state):
    # The reference body leaves consents and the identity verification outstanding.
    force_state(app, application.json["_id"], state)
    body = admin.get(f"/applications/{application.json['_id']}").json
    assert body["blockers"]
    assert action_rels(body) == ADMIN_LINKS[state] - {"apiture:approve"}


def test_start_link_only_for_blocked_or_pending(admin, new_application):
    for state in STATES:
        _owner, app_id = new_application(state)
        has_start = "apiture:start" in admin.get(f"/applications/{app_id}").json["_links"]
        assert has_start == (state in ("blocked", "pending")), state


def test_action_link_names_the_application(admin, approvable):
    href = admin.get(self_href(approvable)).json["_links"]["apiture:approve"]["href"]
    parsed = urlparse(href)
    assert f"{parsed.scheme}://{parsed.netloc}{parsed.path}" == (
        f"http://localhost{BASE}/approvedApplications")
    assert parse_qs(parsed.query)["application"] == [approvable.json["_id"]]


@pytest.mark.parametrize("role, state, rel", [
    *[("applicant", s, rel) for s, rels in APPLICANT_LINKS.items() for rel in sorted(rels)],
    *[("admin", s, rel) for s, rels in ADMIN_LINKS.items() for rel in sorted(rels)],
])
def test_following_a_present_link_succeeds(admin, new_application, role, state, rel):
    owner, app_id = new_application(state)
    caller = owner if role == "applicant" else admin
    href = caller.get(f"/applications/{app_id}").json["_links"][rel]["href"]
    response = caller.post(href)
    assert response.status_code == 200, response.json
    assert response.json["state"] == REL_TARGET[rel]


@pytest.mark.parametrize("rel", sorted(REL_TARGET.keys() - {"apiture:start"}))
def test_a_client_following_links_from_the_root_reaches_each_terminal_state(client, rel):
    applicant = Api(client, headers_for("walker", USER_SCOPES))
    officer = Api(client, headers_for("officer", ADMIN_SCOPES))
    root = client.get(f"{BASE}/", headers={"API-Key": API_KEY}).json
    created = applicant.post(root["_links"]["apiture:applications"]["href"],
                             complete_personal())
    # The institution verifies the applicant's identity by its link: then nothing but
    # the institution's decision remains.
    verify_all(officer, created)
    href = self_href(created)
    actor = applicant if rel in applicant.get(href).json["_links"] else officer
    link = actor.get(href).json["_links"][rel]["href"]
    finished = actor.post(link)
    assert finished.status_code == 200
    assert finished.json["state"] == REL_TARGET[rel]
    assert action_rels(finished.json) == set()


# --- links reflect the token's scopes ------------------------------------------

#: Tokens without the scope the action collections require (banking/write): the
#: owner may only read; the administrator acts for the institution but may only read.
READ_ONLY = {"applicant": "banking/read",
             "admin": "banking/read admin/full profiles/full"}
#: The least each caller needs to take its actions.
LEAST_TO_ACT = {"applicant": "banking/read banking/write",
                "admin": "banking/read banking/write admin/write"}
LINKS = {"applicant": APPLICANT_LINKS, "admin": ADMIN_LINKS}


def caller_with(app, client, role: str, app_id: str, scopes: str) -> Api:
    """The application's owner (or an administrator) with a token of ``scopes``."""
    sub = row(app, app_id).owner if role == "applicant" else "admin-scoped"
    return Api(client, headers_for(sub, scopes))


@pytest.mark.parametrize("role", sorted(READ_ONLY))
@pytest.mark.parametrize("state", STATES)
def test_a_token_without_the_actions_scope_sees_no_action_links(app, client, new_application,
                                                                 role, state):
    _owner, app_id = new_application(state)
    caller = caller_with(app, client, role, app_id, READ_ONLY[role])
    assert action_rels(caller.get(f"/applications/{app_id}").json) == set()


@pytest.mark.parametrize("role", sorted(LEAST_TO_ACT))
@pytest.mark.parametrize("state", STATES)
def test_a_token_with_the_actions_scope_sees_its_action_links(app, client, new_application,
                                                              role, state):
    _owner, app_id = new_application(state)
    caller = caller_with(app, client, role, app_id, LEAST_TO_ACT[role])
    assert action_rels(caller.get(f"/applications/{app_id}").json) == LINKS[role][state]


@pytest.mark.parametrize("role, state, rel", [
    (role, state, rel) for role, links in LINKS.items()
    for state, rels in links.items() for rel in sorted(rels)])
def test_following_a_link_with_the_least_scope_succeeds(app, client, new_application,
                                                        role, state, rel):
    _owner, app_id = new_application(state)
    caller = caller_with(app, client, role, app_id, LEAST_TO_ACT[role])
    href = caller.get(f"/applications/{app_id}").json["_links"][rel]["href"]
    response = caller.post(href)
    assert response.status_code == 200, response.json
    assert response.json["state"] == REL_TARGET[rel]


@pytest.mark.parametrize("role, rel", sorted({
    (role, rel) for role, links in LINKS.items() for rels in links.values() for rel in rels}))
def test_the_hidden_link_would_have_been_refused(app, client, new_application, role, rel):
    # Why the link is hidden: the same href, followed with the read-only token, is a 403.
    state = next(s for s in ("running", "blocked", "pending") if rel in LINKS[role][s])
    _owner, app_id = new_application(state)
    href = caller_with(app, client, role, app_id, LEAST_TO_ACT[role]).get(
        f"/applications/{app_id}").json["_links"][rel]["href"]
    response = caller_with(app, client, role, app_id, READ_ONLY[role]).post(href)
    assert response.status_code == 403
    assert response.json["_error"]["type"] == "insufficientScope"
    assert row(app, app_id).state == state


# --- one application in progress per user ------------------------------------

def test_second_application_while_one_is_running_is_409(user, application, create_body):
    response = user.post("/applications", create_body())
    assert response.status_code == 409
    assert response.json["_error"]["attributes"]["application"] == application.json["_id"]


def test_blocked_application_also_counts_as_in_progress(app, user, application, create_body):
    force_state(app, application.json["_id"], "blocked")
    assert user.post("/applications", create_body()).status_code == 409


def test_new_application_allowed_once_the_first_is_canceled(user, application, create_body):
    act(user, "canceled", application.json["_id"])
    assert user.post("/applications", create_body()).status_code == 201


def test_new_application_allowed_once_the_first_is_approved(user, admin, approvable,
                                                            create_body):
    assert act(admin, "approved", approvable.json["_id"]).status_code == 200
    assert user.post("/applications", create_body()).status_code == 201


def test_other_users_are_not_limited_by_my_application(other, application, create_body):
    assert other.post("/applications", create_body()).status_code == 201


def test_pending_application_also_counts_as_in_progress(app, user, application, create_body):
    force_state(app, application.json["_id"], "pending")
    assert user.post("/applications", create_body()).status_code == 409


# --- delete ------------------------------------------------------------------

def delete(api: Api, app_id: str):
    etag = api.get(f"/applications/{app_id}").headers["ETag"]
    return api.delete(f"/applications/{app_id}", headers={"If-Match": etag})


def test_applicant_may_delete_a_pending_application(new_application):
    owner, app_id = new_application("pending")
    assert delete(owner, app_id).status_code == 204
    assert owner.get(f"/applications/{app_id}").status_code == 404


@pytest.mark.parametrize("state", [s for s in STATES if s != "pending"])
def test_applicant_may_not_delete_in_other_states(new_application, state):
    owner, app_id = new_application(state)
    response = delete(owner, app_id)
    assert response.status_code == 409
    assert response.json["_error"]["attributes"]["state"] == state


def test_administrator_may_delete_an_expired_application(admin, new_application):
    _owner, app_id = new_application("expired")
    assert delete(admin, app_id).status_code == 204
    assert admin.get(f"/applications/{app_id}").status_code == 404


@pytest.mark.parametrize("state", [s for s in STATES if s != "expired"])
def test_administrator_may_not_delete_in_other_states(admin, new_application, state):
    _owner, app_id = new_application(state)
    assert delete(admin, app_id).status_code == 409


def test_delete_with_stale_if_match_is_412(new_application):
    owner, app_id = new_application("pending")
    stale = owner.get(f"/applications/{app_id}").headers["ETag"]
    owner.patch(f"/applications/{app_id}", {"accountName": "x"}, headers={"If-Match": stale})
    response = owner.delete(f"/applications/{app_id}", headers={"If-Match": stale})
    assert response.status_code == 412


def test_someone_elses_application_cannot_be_deleted(other, new_application):
    _owner, app_id = new_application("pending")
    assert other.delete(f"/applications/{app_id}", headers={"If-Match": "*"}).status_code == 404


def test_delete_needs_delete_scope(client, new_application):
    _owner, app_id = new_application("pending")
    writer = Api(client, headers_for("owner-x", "banking/read banking/write"))
    assert writer.delete(f"/applications/{app_id}", headers={"If-Match": "*"}).status_code == 403
