"""Idempotency-Key on every POST: a retried request takes effect once (issue 24).

The in-process tests run on the suite's database (SQLite or PostgreSQL); the
races run the service under gunicorn, several worker processes on that database.
"""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from typing import Any

import pytest
from conftest import API_KEY, SECRET, USER_SCOPES, Api, headers_for
from flask.testing import FlaskClient
from peewee import OperationalError
from proof_scenarios import Credentials, racing_retries

from accountapps import create_app
from accountapps.domain import applications as applications_domain
from accountapps.domain import workflow
from accountapps.storage import db, idempotency
from accountapps.storage.key_locks import KeyLocks
from accountapps.storage.models import Application, AuditRecord, IdempotencyKey, utcnow
from tests.openapi_validation import ValidatingClient

OTHER_API_KEY = "other-client-api-key-0123456789"
CREATE = "/applications"


@pytest.fixture
def app_settings(app_settings):
    """Two client applications, each with its own API key."""
    return {**app_settings, "ACCOUNTAPPS_API_KEYS": f"{API_KEY},{OTHER_API_KEY}"}


def keyed(key: str) -> dict[str, str]:
    return {"Idempotency-Key": key}


def count(app, model, *where) -> int:
    with app.app_context(), db.database.connection_context():
        query = model.select()
        return (query.where(*where) if where else query).count()


def trail(app, app_id: str) -> list[tuple[str | None, str]]:
    with app.app_context(), db.database.connection_context():
        return [(r.from_state, r.to_state) for r in AuditRecord.select().where(
            AuditRecord.resource_id == app_id).order_by(AuditRecord.id)]


def unchecked(app) -> FlaskClient:
    """A test client that does not check answers against the OpenAPI document
    (a 500 is an answer no operation documents)."""
    return FlaskClient(app, app.response_class, use_cookies=True)


# --- replay ------------------------------------------------------------------------

def test_a_repeated_create_gets_the_same_status_headers_and_body(user, create_body):
    first = user.post(CREATE, create_body(), headers=keyed("create-1"))
    repeat = user.post(CREATE, create_body(), headers=keyed("create-1"))
    assert first.status_code == repeat.status_code == 201
    assert repeat.get_data() == first.get_data()
    for name in ("Location", "ETag", "Content-Type", "Vary"):
        assert repeat.headers[name] == first.headers[name]


def test_a_replayed_answer_says_so_and_the_first_does_not(user, create_body):
    first = user.post(CREATE, create_body(), headers=keyed("create-1"))
    repeat = user.post(CREATE, create_body(), headers=keyed("create-1"))
    assert "Idempotent-Replayed" not in first.headers
    assert repeat.headers["Idempotent-Replayed"] == "true"


def test_a_replay_executes_nothing(app, user, create_body):
    first = user.post(CREATE, create_body(), headers=keyed("create-1"))
    for _ in range(3):
        user.post(CREATE, create_body(), headers=keyed("create-1"))
    assert count(app, Application) == 1
    assert trail(app, first.json["_id"]) == [(None, "running")]


def test_a_replay_is_the_first_answer_even_after_the_resource_changed(user, create_body):
    first = user.post(CREATE, create_body(), headers=keyed("create-1"))
    renamed = user.patch(first.headers["Location"], {"accountName": "Renamed"},
                         headers={"If-Match": first.headers["ETag"]})
    assert renamed.status_code == 200
    repeat = user.post(CREATE, create_body(), headers=keyed("create-1"))
    assert repeat.get_data() == first.get_data()
    assert repeat.headers["ETag"] == first.headers["ETag"] != renamed.headers["ETag"]


def test_a_repeated_action_replays_its_answer_and_changes_the_state_once(app, user,
                                                                       application):
    app_id = application.json["_id"]
    path = f"/canceledApplications?application={app_id}"
    first = user.post(path, headers=keyed("cancel-1"))
    repeat = user.post(path, headers=keyed("cancel-1"))
    assert first.status_code == repeat.status_code == 200
    assert repeat.get_data() == first.get_data()
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert trail(app, app_id) == [(None, "running"), ("running", "canceled")]


def test_a_repeat_that_would_now_be_refused_gets_the_first_answer(app, user, application):
    # The first cancel made its If-Match tag stale: executed again, the repeat
    # would be 412. It is the same request, so it gets the first one's answer.
    path = f"/canceledApplications?application={application.json['_id']}"
    sent = {**keyed("cancel-once"), "If-Match": application.headers["ETag"]}
    first = user.post(path, headers=sent)
    repeat = user.post(path, headers=sent)
    assert first.status_code == repeat.status_code == 200
    assert repeat.get_data() == first.get_data()
    assert repeat.headers["Idempotent-Replayed"] == "true"


def test_an_institution_input_is_recorded_once(app, admin, application):
    app_id = application.json["_id"]
    applicant = application.json["applicants"][0]["_id"]
    path = f"/applications/{app_id}/identityVerifications"
    body = {"applicant": applicant, "result": "verified"}
    first = admin.post(path, body, headers=keyed("verify-1"))
    repeat = admin.post(path, body, headers=keyed("verify-1"))
    assert first.status_code == 200, first.json
    assert repeat.get_data() == first.get_data()
    fetched = admin.get(f"/applications/{app_id}")
    assert fetched.headers["ETag"] == first.headers["ETag"]  # no second write


def test_a_key_may_be_sent_as_a_quoted_string(user, create_body):
    first = user.post(CREATE, create_body(), headers=keyed("create-1"))
    repeat = user.post(CREATE, create_body(), headers=keyed('"create-1"'))
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert repeat.get_data() == first.get_data()


def test_a_conflict_with_the_state_is_an_outcome_and_is_replayed(user, application,
                                                                create_body):
    second = user.post(CREATE, create_body(), headers=keyed("second"))
    assert second.status_code == 409
    canceled = user.post(f"/canceledApplications?application={application.json['_id']}")
    assert canceled.status_code == 200
    repeat = user.post(CREATE, create_body(), headers=keyed("second"))
    assert repeat.status_code == 409
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert repeat.get_data() == second.get_data()


def stored_row(app, key: str) -> IdempotencyKey:
    with app.app_context(), db.database.connection_context():
        return IdempotencyKey.get(IdempotencyKey.key == key)


def test_a_large_answer_is_stored_compressed_and_replayed_byte_for_byte(app, user,
                                                                         create_body):
    first = user.post(CREATE, create_body(), headers=keyed("create-1"))
    row = stored_row(app, "create-1")
    assert len(first.get_data()) >= idempotency.COMPRESS_FROM_BYTES
    assert row.compressed and len(bytes(row.body)) < len(first.get_data())
    assert user.post(CREATE, create_body(), headers=keyed("create-1")).get_data() == (
        first.get_data())


def test_a_small_answer_is_stored_as_it_is(app, user, create_body, monkeypatch):
    monkeypatch.setattr(idempotency, "COMPRESS_FROM_BYTES", 1 << 20)
    first = user.post(CREATE, create_body(), headers=keyed("create-1"))
    row = stored_row(app, "create-1")
    assert not row.compressed and bytes(row.body) == first.get_data()
    assert user.post(CREATE, create_body(), headers=keyed("create-1")).get_data() == (
        first.get_data())


# --- another request with the key --------------------------------------------------

def test_the_key_of_another_body_is_422_saying_the_body_differs(user, create_body):
    user.post(CREATE, create_body(), headers=keyed("create-1"))
    reused = user.post(CREATE, create_body(accountName="Other"), headers=keyed("create-1"))
    assert reused.status_code == 422
    error = reused.json["_error"]
    assert error["type"] == "idempotencyKeyReused"
    assert error["attributes"]["differences"] == ["body"]
    assert "body" in error["message"]


def test_the_key_of_another_path_and_query_is_422_saying_both_differ(user, application):
    app_id = application.json["_id"]
    user.post(f"/canceledApplications?application={app_id}", headers=keyed("act"))
    reused = user.post(f"/expiredApplications?application={app_id}&x=1", headers=keyed("act"))
    assert reused.status_code == 422
    assert reused.json["_error"]["attributes"]["differences"] == ["path", "query"]


def test_a_reused_key_changes_nothing(app, user, create_body):
    user.post(CREATE, create_body(), headers=keyed("create-1"))
    user.post(CREATE, create_body(accountName="Other"), headers=keyed("create-1"))
    assert count(app, Application) == 1


# --- scope: the client application and the user ---------------------------------------

def test_one_users_key_never_replays_another_users_answer(app, user, other, create_body):
    mine = user.post(CREATE, create_body(), headers=keyed("shared"))
    theirs = other.post(CREATE, create_body(), headers=keyed("shared"))
    assert mine.status_code == theirs.status_code == 201
    assert "Idempotent-Replayed" not in theirs.headers
    assert theirs.headers["Location"] != mine.headers["Location"]
    assert count(app, Application) == 2


def test_one_clients_key_never_replays_another_clients_answer(app, client, user,
                                                              create_body):
    via_other = Api(client, {**headers_for("user-1", USER_SCOPES), "API-Key": OTHER_API_KEY})
    first = user.post(CREATE, create_body(), headers=keyed("shared"))
    second = via_other.post(CREATE, create_body(), headers=keyed("shared"))
    assert first.status_code == 201
    assert second.status_code == 409  # the user's application in progress: executed anew
    assert "Idempotent-Replayed" not in second.headers
    assert second.json["_error"]["type"] == "applicationInProgress"


# --- a repeat while the first executes ----------------------------------------------

def repeat_while_the_first_executes(app, headers, body, monkeypatch,
                                    during=lambda: None) -> dict[str, Any]:
    """Send a keyed create and, while it executes (held in the domain's create), the
    same request again, after ``during()``: the answers ``first``, ``repeat``, ``during``.
    Only the first create is held: a repeat that executes too goes straight through."""
    entered, release = threading.Event(), threading.Event()
    real_create = applications_domain.create

    def held_create(principal, data):
        if not entered.is_set():
            entered.set()
            release.wait(10)
        return real_create(principal, data)

    monkeypatch.setattr(applications_domain, "create", held_create)
    url = f"/accountApplications{CREATE}"
    answers: dict[str, Any] = {}
    first = threading.Thread(target=lambda: answers.update(
        first=app.test_client().post(url, json=body, headers=headers)))
    first.start()
    try:
        assert entered.wait(10)
        answers["during"] = during()
        answers["repeat"] = app.test_client().post(url, json=body, headers=headers)
    finally:
        release.set()
        first.join(10)
    return answers


def test_a_repeat_while_the_first_executes_is_409_with_retry_after(app, user_headers,
                                                                   create_body, monkeypatch):
    answers = repeat_while_the_first_executes(
        app, {**user_headers, **keyed("held")}, create_body(), monkeypatch)
    repeat = answers["repeat"]
    assert repeat.status_code == 409
    assert repeat.json["_error"]["type"] == "idempotencyKeyInUse"
    assert repeat.headers["Retry-After"] == "1"
    assert answers["first"].status_code == 201
    assert count(app, Application) == 1


def test_a_repeat_at_another_host_while_the_first_executes_gets_one_answer_and_one_effect(
        app, user_headers, create_body, monkeypatch):
    # Another host's workers do not share this host's key locks: there the
    # repeat executes too, and the database keeps one of the two (on
    # PostgreSQL the repeat runs provisionally, with no lookup before it).
    answers = repeat_while_the_first_executes(
        app, {**user_headers, **keyed("two-hosts")}, create_body(), monkeypatch,
        during=lambda: monkeypatch.setattr(db.database.obj, "key_locks", KeyLocks(None)))
    assert answers["repeat"].status_code == answers["first"].status_code == 201
    assert answers["first"].get_data() == answers["repeat"].get_data()
    assert answers["first"].headers["Idempotent-Replayed"] == "true"
    assert count(app, Application) == count(app, IdempotencyKey) == 1


def advisory_locks(app) -> list[str]:
    """The state of each session holding an advisory lock (PostgreSQL)."""
    with app.app_context(), db.database.connection_context():
        return [state for (state,) in db.database.execute_sql(
            "SELECT a.state FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted").fetchall()]


def pooled_app(app_settings):
    """The service as configured behind PgBouncer in transaction mode (PostgreSQL only)."""
    if not app_settings["ACCOUNTAPPS_DATABASE_URL"].startswith("postgres"):
        pytest.skip("advisory locks are PostgreSQL's (run the suite on PostgreSQL)")
    return create_app({**app_settings, "ACCOUNTAPPS_DATABASE_PREPARE": "0"})


def test_behind_a_pooler_no_session_keeps_a_keys_lock_and_a_repeat_is_409(
        app_settings, user_headers, create_body, monkeypatch):
    # PgBouncer in transaction mode may give the next transaction another
    # session: a session's lock would stay behind in the first, held forever.
    pooled = pooled_app(app_settings)
    headers = {**user_headers, **keyed("pooled")}
    answers = repeat_while_the_first_executes(pooled, headers, create_body(), monkeypatch,
                                              during=lambda: advisory_locks(pooled))
    assert answers["during"] == []  # the provisional run's lock is this host's
    assert answers["repeat"].status_code == 409
    assert answers["first"].status_code == 201
    replay = pooled.test_client().post(f"/accountApplications{CREATE}", json=create_body(),
                                       headers=headers)
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert advisory_locks(pooled) == []


def test_behind_a_pooler_a_looked_up_run_locks_the_key_in_its_transaction_only(
        app_settings):
    pooled = pooled_app(app_settings)
    scope = idempotency.Scope("client", "user", "looked-up")
    seen: list[list[str]] = []
    with pooled.app_context(), db.database.connection_context(), \
            idempotency.attempt(scope, timedelta(hours=1), defer=False) as attempt:
        assert not attempt.busy
        watcher = threading.Thread(target=lambda: seen.append(advisory_locks(pooled)))
        watcher.start()
        watcher.join(10)
    assert seen == [["idle in transaction"]]
    assert advisory_locks(pooled) == []


def test_of_two_requests_that_both_executed_one_answer_is_kept_and_the_other_undone(
        app, user_headers, create_body, monkeypatch):
    # Each request gets a lock of its own, as if the locks had failed: the
    # stored answers' primary key is the last guard.
    names = iter(range(1, 1000))
    monkeypatch.setattr(idempotency.Scope, "lock_name", lambda _scope: next(names))
    first_inside, second_looked, release = (threading.Event(), threading.Event(),
                                            threading.Event())
    real_settle, real_attempt = workflow.settle, idempotency.Attempt.__init__

    def held_settle(*args, **kwargs):  # the first create, after its insert (or its queuing)
        if not first_inside.is_set():
            first_inside.set()
            release.wait(10)
        return real_settle(*args, **kwargs)

    def looking(self, *args, **kwargs):
        real_attempt(self, *args, **kwargs)
        if first_inside.is_set():
            second_looked.set()  # the second request found no answer: it executes

    monkeypatch.setattr(workflow, "settle", held_settle)
    monkeypatch.setattr(idempotency.Attempt, "__init__", looking)
    headers = {**user_headers, **keyed("twice")}
    url = f"/accountApplications{CREATE}"
    answers = {}

    def send(name: str) -> None:
        answers[name] = app.test_client().post(url, json=create_body(), headers=headers)

    threads = [threading.Thread(target=send, args=("first",)),
               threading.Thread(target=send, args=("second",))]
    threads[0].start()
    try:
        assert first_inside.wait(10)
        threads[1].start()
        assert second_looked.wait(10)
    finally:
        release.set()
        for thread in threads:
            thread.join(15)
    first, second = answers["first"], answers["second"]
    assert first.status_code == second.status_code == 201
    # Which one stored its answer depends on when its writes reached the
    # database (on PostgreSQL the first's go with its COMMIT): the other replays it.
    replayed = [a for a in (first, second) if a.headers.get("Idempotent-Replayed") == "true"]
    assert len(replayed) == 1
    assert second.get_data() == first.get_data()
    assert count(app, Application) == count(app, IdempotencyKey) == 1
    assert trail(app, first.json["_id"]) == [(None, "running")]


# --- refused or failed requests keep nothing -------------------------------------------

def test_a_400_keeps_nothing_and_the_corrected_request_executes(user, create_body):
    refused = user.post(CREATE, {"accountName": "no product"}, headers=keyed("fix-me"))
    assert refused.status_code == 400
    corrected = user.post(CREATE, create_body(), headers=keyed("fix-me"))
    assert corrected.status_code == 201
    assert "Idempotent-Replayed" not in corrected.headers


def test_a_422_keeps_nothing_and_the_corrected_request_executes(user, create_body):
    unknown = create_body(_links={"apiture:product": {"href": "no-such-product"}})
    refused = user.post(CREATE, unknown, headers=keyed("fix-me"))
    assert refused.status_code == 422
    assert user.post(CREATE, create_body(), headers=keyed("fix-me")).status_code == 201


def test_a_401_keeps_nothing(client, user, create_body):
    stranger = Api(client, {"API-Key": API_KEY, "Authorization": "Bearer not-a-token"})
    assert stranger.post(CREATE, create_body(), headers=keyed("k")).status_code == 401
    assert user.post(CREATE, create_body(), headers=keyed("k")).status_code == 201


def test_a_403_keeps_nothing_and_the_request_with_enough_scope_executes(client, user,
                                                                       create_body):
    reader = Api(client, headers_for("user-1", "banking/read"))
    assert reader.post(CREATE, create_body(), headers=keyed("k")).status_code == 403
    created = user.post(CREATE, create_body(), headers=keyed("k"))
    assert created.status_code == 201
    assert "Idempotent-Replayed" not in created.headers


def test_a_404_keeps_nothing(admin, application):
    body = {"applicant": application.json["applicants"][0]["_id"], "result": "verified"}
    missing = admin.post("/applications/no-such-application/identityVerifications", body,
                         headers=keyed("k"))
    assert missing.status_code == 404
    found = admin.post(f"/applications/{application.json['_id']}/identityVerifications",
                       body, headers=keyed("k"))
    assert found.status_code == 200  # not 422: the 404 kept no request for the key


def test_a_412_keeps_nothing_and_the_request_with_the_current_etag_executes(user,
                                                                           application):
    path = f"/canceledApplications?application={application.json['_id']}"
    stale = user.post(path, headers={**keyed("k"), "If-Match": '"99.0"'})
    assert stale.status_code == 412
    current = user.post(path, headers={**keyed("k"), "If-Match": application.headers["ETag"]})
    assert current.status_code == 200
    assert current.json["state"] == "canceled"


def test_a_415_keeps_nothing(user, create_body):
    text = json.dumps(create_body())
    refused = user.call("POST", CREATE, data=text,
                        headers={**keyed("k"), "Content-Type": "text/plain"})
    assert refused.status_code == 415
    accepted = user.call("POST", CREATE, data=text,
                         headers={**keyed("k"), "Content-Type": "application/json"})
    assert accepted.status_code == 201


def test_a_429_keeps_nothing(app_settings, user_headers, create_body):
    limited = create_app({**app_settings, "ACCOUNTAPPS_RATE_LIMIT": "1/minute"})
    limited.test_client_class = ValidatingClient
    limited_api = Api(limited.test_client(), user_headers)
    assert limited_api.get("/applications").status_code == 200  # the budget, spent
    assert limited_api.post(CREATE, create_body(), headers=keyed("k")).status_code == 429
    unlimited = create_app(app_settings)
    unlimited.test_client_class = ValidatingClient
    retried = Api(unlimited.test_client(), user_headers).post(CREATE, create_body(),
                                                              headers=keyed("k"))
    assert retried.status_code == 201


def test_a_5xx_rolls_the_effect_back_and_keeps_nothing(app, user_headers, create_body,
                                                       monkeypatch):
    def lost_connection(*_args, **_kwargs):
        raise OperationalError("connection lost after the insert")

    monkeypatch.setattr(workflow, "settle", lost_connection)  # runs after the create's insert
    failing = Api(unchecked(app), user_headers)
    assert failing.post(CREATE, create_body(), headers=keyed("k")).status_code == 503
    assert count(app, Application) == 0  # the effect went with the failure
    monkeypatch.undo()
    assert failing.post(CREATE, create_body(), headers=keyed("k")).status_code == 201
    assert count(app, Application) == 1


def test_an_unexpected_error_is_a_500_that_keeps_nothing(app, user_headers, create_body,
                                                         monkeypatch):
    def crash(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(workflow, "settle", crash)
    failing = Api(unchecked(app), user_headers)
    assert failing.post(CREATE, create_body(), headers=keyed("k")).status_code == 500
    monkeypatch.undo()
    assert count(app, Application) == count(app, IdempotencyKey) == 0
    assert failing.post(CREATE, create_body(), headers=keyed("k")).status_code == 201


# --- keys: syntax, requirement, keeping time ----------------------------------------------

@pytest.mark.parametrize("key", ["", "x" * 256, "caf\xe9", "tab\there", '"unterminated',
                                 '"a"b"'],
                         ids=["empty", "256 characters", "not ASCII", "control character",
                              "open quote", "bad quoted string"])
def test_a_malformed_key_is_400(app, user, create_body, key):
    refused = user.post(CREATE, create_body(), headers=keyed(key))
    assert refused.status_code == 400
    assert refused.json["_error"]["type"] == "invalidIdempotencyKey"
    assert count(app, Application) == 0


def test_a_key_of_255_printable_characters_is_accepted(user, create_body):
    key = "k" + "".join(chr(32 + i % 95) for i in range(253)) + "k"
    assert user.post(CREATE, create_body(), headers=keyed(key)).status_code == 201
    assert user.post(CREATE, create_body(),
                     headers=keyed(key)).headers["Idempotent-Replayed"] == "true"


def test_without_a_key_a_post_executes_as_always(user, create_body):
    assert user.post(CREATE, create_body()).status_code == 201
    assert user.post(CREATE, create_body()).status_code == 409


@pytest.fixture
def strict(app_settings):
    """The service with ACCOUNTAPPS_REQUIRE_IDEMPOTENCY_KEY set."""
    strict_app = create_app({**app_settings, "ACCOUNTAPPS_REQUIRE_IDEMPOTENCY_KEY": "1"})
    strict_app.test_client_class = ValidatingClient
    return strict_app


def test_a_post_without_a_key_is_400_when_keys_are_required(strict, user_headers,
                                                             create_body):
    refused = Api(strict.test_client(), user_headers).post(CREATE, create_body())
    assert refused.status_code == 400
    assert refused.json["_error"]["type"] == "idempotencyKeyRequired"


def test_a_post_with_a_key_executes_when_keys_are_required(strict, user_headers, create_body):
    api = Api(strict.test_client(), user_headers)
    assert api.post(CREATE, create_body(), headers=keyed("k")).status_code == 201
    assert api.get(CREATE).status_code == 200  # other methods need none


def age(app, hours: float) -> None:
    """Make every stored key ``hours`` older."""
    with app.app_context(), db.database.connection_context():
        IdempotencyKey.update(created_at=utcnow() - timedelta(hours=hours)).execute()


def test_a_key_past_its_keeping_time_is_a_new_request(app, user, create_body):
    first = user.post(CREATE, create_body(), headers=keyed("old"))
    user.post(f"/canceledApplications?application={first.json['_id']}")
    age(app, 25)
    again = user.post(CREATE, create_body(), headers=keyed("old"))
    assert again.status_code == 201
    assert "Idempotent-Replayed" not in again.headers
    assert again.headers["Location"] != first.headers["Location"]
    assert count(app, IdempotencyKey) == 1


def test_a_key_within_its_keeping_time_is_replayed(app, user, create_body):
    user.post(CREATE, create_body(), headers=keyed("recent"))
    age(app, 23)
    repeat = user.post(CREATE, create_body(), headers=keyed("recent"))
    assert repeat.headers["Idempotent-Replayed"] == "true"


def test_the_keeping_time_is_configurable(app_settings, user_headers, create_body):
    short = create_app({**app_settings, "ACCOUNTAPPS_IDEMPOTENCY_TTL_HOURS": "0.5"})
    short.test_client_class = ValidatingClient
    api = Api(short.test_client(), user_headers)
    first = api.post(CREATE, create_body(), headers=keyed("k"))
    api.post(f"/canceledApplications?application={first.json['_id']}")
    age(short, 1)
    assert "Idempotent-Replayed" not in api.post(CREATE, create_body(),
                                                 headers=keyed("k")).headers


def test_prune_removes_the_keys_past_their_keeping_time_only(app, user, other, create_body):
    user.post(CREATE, create_body(), headers=keyed("old"))
    age(app, 25)
    other.post(CREATE, create_body(), headers=keyed("new"))
    result = app.test_cli_runner().invoke(args=["prune"])
    assert result.exit_code == 0, result.output
    assert "pruned idempotency keys: 1" in result.output
    with app.app_context(), db.database.connection_context():
        assert [row.key for row in IdempotencyKey.select()] == ["new"]


# --- races across gunicorn workers --------------------------------------------------------

@pytest.mark.slow
def test_32_racing_retries_take_effect_once_across_workers(gunicorn_server, app):
    server = gunicorn_server(workers=4)
    result = racing_retries(server, Credentials(API_KEY, SECRET), app, clients=32)
    create, cancel = result["create"], result["cancel"]
    assert result["applications"] == 1
    assert set(create["statuses"]) <= {201, 409} and create["statuses"][201] >= 1, create
    assert set(cancel["statuses"]) <= {200, 409} and cancel["statuses"][200] >= 1, cancel
    # Every 201 (200) is the one stored answer; every 409 says the first still executes.
    assert create["distinct_answers"] == cancel["distinct_answers"] == 1
    assert set(create["refusals"]) | set(cancel["refusals"]) <= {"idempotencyKeyInUse"}
    assert create["replayed"] == create["statuses"][201] - 1
    assert cancel["replayed"] == cancel["statuses"][200] - 1
    assert result["audit_trail"] == [(None, "running"), ("running", "canceled")]
    assert result["events"] == ["application.created", "application.canceled"]
    assert result["stored_keys"] == 2
