"""No mass assignment: server-owned fields are never taken from a request body.

Fields of the representation that the server owns (state, ids, timestamps,
approvals, ...) may be sent back as fetched and are ignored; fields that are
not part of the representation at all (``revision``, ``owner``, identity
verification results, ``flaggedForReview``) are refused with ``400`` so that a
client learns its attempt had no effect.
"""

from __future__ import annotations

import pytest
from conftest import ADMIN_SCOPES, FUNDING, headers_for

#: Representation fields the server owns, with a value a caller would love to set.
READ_ONLY_ATTEMPTS = {
    "_id": "00000000-0000-0000-0000-000000000000",
    "state": "approved",
    "workflowState": "completed",
    "createdAt": "2000-01-01T00:00:00.000Z",
    "completedAt": "2000-01-02T00:00:00.000Z",
    "accountApproval": {"_id": "forged", "state": "approved", "done": True},
    "applicantName": "Somebody Else",
    "productName": "Platinum Unlimited",
}

#: Internal fields that are not in the representation at all.
INTERNAL_ATTEMPTS = {
    "revision": 99,
    "owner": "admin-1",
    "ownerId": "admin-1",
    "identityVerification": {"state": "verified", "score": 100},
    "identityVerified": True,
    "flaggedForReview": False,
    "clientId": "trusted-teller-app",
}


def assert_server_values_kept(body: dict, before: dict | None = None) -> None:
    assert body["_id"] != READ_ONLY_ATTEMPTS["_id"]
    assert body["state"] == "running"
    assert body["workflowState"] == "running"
    assert body["createdAt"] != READ_ONLY_ATTEMPTS["createdAt"]
    assert body["completedAt"] is None
    assert body["accountApproval"]["state"] == "open"
    assert body["accountApproval"]["done"] is False
    assert body["applicantName"] == "Elsa Snowqueen"
    assert body["productName"] == "Premiere Savings"
    if before is not None:
        assert body["_id"] == before["_id"]
        assert body["createdAt"] == before["createdAt"]
        assert body["accountApproval"]["_id"] == before["accountApproval"]["_id"]


@pytest.mark.parametrize("field", sorted(READ_ONLY_ATTEMPTS))
def test_create_ignores_a_read_only_field(user, create_body, field):
    response = user.post("/applications", create_body(**{field: READ_ONLY_ATTEMPTS[field]}))
    assert response.status_code == 201, response.json
    assert_server_values_kept(response.json)


@pytest.mark.parametrize("field", sorted(INTERNAL_ATTEMPTS))
def test_create_refuses_an_internal_field(user, create_body, field):
    response = user.post("/applications", create_body(**{field: INTERNAL_ATTEMPTS[field]}))
    assert response.status_code == 400
    names = [e["attributes"]["name"] for e in response.json["_error"]["_embedded"]["errors"]]
    assert field in names
    assert user.get("/applications").json["count"] == 0


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_update_ignores_every_read_only_field(user, application, method):
    before = application.json
    # (FUNDING: the fetched account number is masked for this caller.)
    body = {**before, **FUNDING, **READ_ONLY_ATTEMPTS} if method == "put" else dict(
        READ_ONLY_ATTEMPTS)
    response = getattr(user, method)(f"/applications/{before['_id']}", body,
                                     headers={"If-Match": application.headers["ETag"]})
    assert response.status_code == 200, response.json
    assert_server_values_kept(response.json, before)
    assert user.get(f"/applications/{before['_id']}").json["state"] == "running"


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("field", sorted(INTERNAL_ATTEMPTS))
def test_an_update_refuses_an_internal_field(user, application, method, field):
    before = application.json
    body = {**before, **FUNDING, field: INTERNAL_ATTEMPTS[field]} if method == "put" else {
        field: INTERNAL_ATTEMPTS[field]}
    response = getattr(user, method)(f"/applications/{before['_id']}", body,
                                     headers={"If-Match": application.headers["ETag"]})
    assert response.status_code == 400
    assert user.get(f"/applications/{before['_id']}").headers["ETag"] == \
        application.headers["ETag"]


def test_the_owner_cannot_be_changed_by_a_body(user, other, application):
    app_id = application.json["_id"]
    user.patch(f"/applications/{app_id}", {"owner": "user-2"},
               headers={"If-Match": application.headers["ETag"]})
    assert other.get(f"/applications/{app_id}").status_code == 404
    assert user.get(f"/applications/{app_id}").status_code == 200


def test_an_action_body_cannot_choose_the_state(client, user, application):
    # An action's body is {"reason"} only (actionBody): naming a state is a 400, not a
    # way to reach another state.
    app_id = application.json["_id"]
    response = user.post(f"/canceledApplications?application={app_id}",
                         {"state": "approved", "reason": "changed my mind"})
    assert response.status_code == 400
    assert user.get(application.headers["Location"]).json["state"] == "running"


def test_document_review_results_are_server_owned(user, create_body):
    documents = [{"type": "driversLicense", "name": "licence.pdf", "state": "accepted",
                  "reviewedAt": "2000-01-01T00:00:00.000Z", "reviewReason": "looks fine"}]
    response = user.post("/applications", create_body(documents=documents))
    assert response.status_code == 201, response.json
    document = response.json["documents"][0]
    assert document["state"] == "pending"
    assert "reviewedAt" not in document and "reviewReason" not in document


def test_consent_timestamps_and_user_are_server_owned(user, create_body):
    consents = [{"type": "privacyPolicy", "state": "given",
                 "givenAt": "2000-01-01T00:00:00.000Z", "userId": "admin-1"}]
    response = user.post("/applications", create_body(consents=consents))
    assert response.status_code == 201, response.json
    consent = response.json["consents"][0]
    assert consent["userId"] == "user-1"
    assert consent["givenAt"] != "2000-01-01T00:00:00.000Z"


def test_an_administrator_cannot_mass_assign_either(client, create_body):
    # The institution may seed the state (tests/test_contract_behaviours.py), and
    # nothing else the server owns.
    from conftest import Api

    admin = Api(client, headers_for("admin-9", ADMIN_SCOPES))
    forged = {k: v for k, v in READ_ONLY_ATTEMPTS.items() if k != "state"}
    response = admin.post("/applications", create_body(**forged))
    assert response.status_code == 201
    assert_server_values_kept(response.json)
