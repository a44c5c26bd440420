"""Webhook delivery: signed by Standard Webhooks, retried, dead-lettered, in order per resource."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from conftest import ADMIN_SCOPES, Api, headers_for
from events_support import all_events, settle
from webhook_receiver import Receiver
from workflow_support import href

from accountapps.domain import dispatch, events, webhooks
from accountapps.domain.ids import new_id
from accountapps.storage import db
from accountapps.storage.models import Event, WebhookDelivery, utcnow

API = "http://api.bank.test/accountApplications"


@pytest.fixture
def app_settings(app_settings):
    return {**app_settings, "ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE": "1",
            "ACCOUNTAPPS_WEBHOOK_RETRY_BASE_SECONDS": "0.01",
            "ACCOUNTAPPS_WEBHOOK_RETRY_MAX_SECONDS": "0.05",
            "ACCOUNTAPPS_WEBHOOK_TIMEOUT": "2"}


@pytest.fixture
def subscription(admin, receiver) -> dict:
    """A subscription of ``receiver`` to every event (made before ``application``)."""
    return subscribe(admin, receiver)


def subscribe(admin, receiver: Receiver, events=("*",)) -> dict:
    created = admin.post("/webhookSubscriptions", {"url": receiver.url, "events": list(events)})
    assert created.status_code == 201, created.json
    receiver.secret = created.json["secret"]
    return created.json


def deliver(app, **overrides) -> int:
    """Run the dispatcher until nothing is due (once the feed shows every event)."""
    with app.test_client() as client:
        settle(Api(client, headers_for("admin-1", ADMIN_SCOPES)))
    settings = dispatch.Settings.from_config(app.config, API, **overrides)
    with app.app_context():
        return dispatch.Dispatcher(settings).run(threading.Event(), once=True)


def deliver_until(app, done: Callable[[], bool], timeout: float = 15, **overrides) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "not done in time"
        deliver(app, **overrides)
        time.sleep(0.02)


def deliveries(admin, subscription: dict, **query) -> list[dict]:
    response = admin.get(subscription["_links"]["apiture:deliveries"]["href"],
                         query_string=query)
    assert response.status_code == 200, response.json
    return response.json["_embedded"]["items"]


def test_each_event_is_delivered_signed_by_standard_webhooks(app, admin, user, receiver,
                                                             subscription, application):
    deliver(app)
    [arrival] = receiver.arrivals
    assert arrival.verified
    [event] = all_events(admin)
    assert arrival.webhook_id == event["_id"]
    assert arrival.headers["webhook-signature"].startswith("v1,")
    assert arrival.headers["webhook-timestamp"].isdigit()
    assert arrival.payload["type"] == "application.created"
    assert arrival.payload["timestamp"] == event["occurredAt"]


def test_the_payload_holds_what_the_feed_shows(app, admin, receiver, subscription, application):
    deliver(app)
    [event] = all_events(admin)
    data = receiver.arrivals[0].payload["data"]
    assert data["resource"]["href"] == f"{API}{event['resource']['path']}"
    feed_item = {k: v for k, v in event.items() if k not in ("_profile", "_links")}
    feed_item["resource"] = {**feed_item["resource"], "href": data["resource"]["href"]}
    assert data == feed_item


def test_a_delivery_is_signed_for_its_subscription_only(app, admin, receiver, subscription,
                                                        application):
    receiver.secret = webhooks.new_secret()  # not this subscription's secret
    deliver(app)
    assert receiver.arrivals and not receiver.arrivals[0].verified


def test_only_the_subscribed_types_are_delivered(app, admin, user, receiver, create_body):
    subscribe(admin, receiver, events=["application.canceled"])
    application = user.post("/applications", create_body())
    user.post(href(application.json, "apiture:cancel"))
    deliver(app)
    assert [a.payload["type"] for a in receiver.delivered()] == ["application.canceled"]


def test_events_from_before_the_subscription_are_not_delivered(app, admin, receiver,
                                                               application):
    deliver(app)
    subscribe(admin, receiver)
    deliver(app)
    assert receiver.arrivals == []


def test_a_delivery_shows_the_receivers_answer(app, admin, receiver, subscription, application):
    deliver(app)
    [delivery] = deliveries(admin, subscription)
    assert (delivery["status"], delivery["attempts"], delivery["responseStatus"]) == (
        "delivered", 1, 204)
    assert delivery["nextAttemptAt"] is None and delivery["deliveredAt"]
    assert delivery["eventType"] == "application.created"


def test_a_failing_receiver_is_retried_until_it_answers(app, admin, receiver, subscription,
                                                        application):
    failures = iter([500, 503, 429])
    receiver.answer = lambda _payload: next(failures, 204)
    deliver_until(app, lambda: bool(receiver.delivered()))
    assert [a.status for a in receiver.arrivals] == [500, 503, 429, 204]
    assert len({a.webhook_id for a in receiver.arrivals}) == 1
    [delivery] = deliveries(admin, subscription)
    assert (delivery["status"], delivery["attempts"]) == ("delivered", 4)


def test_a_failed_delivery_waits_with_its_next_attempt_shown(app, admin, receiver, subscription,
                                                             application):
    receiver.answer = lambda _payload: 500
    deliver(app, retry_base=60, retry_max=60)
    [delivery] = deliveries(admin, subscription)
    assert (delivery["status"], delivery["responseStatus"]) == ("pending", 500)
    assert delivery["error"] == "the receiver answered 500"
    assert delivery["nextAttemptAt"] > delivery["lastAttemptAt"]
    deliver(app, retry_base=60, retry_max=60)
    assert len(receiver.arrivals) == 1  # not due again yet


def test_backoff_doubles_with_jitter_up_to_the_cap():
    settings = dispatch.Settings(retry_base=5, retry_max=3600)
    for attempts, delay in ((1, 5), (2, 10), (5, 80), (20, 3600)):
        waited = [dispatch.backoff(attempts, settings) for _ in range(50)]
        assert all(delay / 2 <= wait <= delay for wait in waited)
        assert len(set(waited)) > 1


def test_the_default_retry_period_is_at_least_a_day(app):
    settings = dispatch.Settings.from_config(
        {**app.config, "ACCOUNTAPPS_WEBHOOK_RETRY_HOURS": 72.0}, API)
    assert settings.retry_for >= timedelta(hours=24)
    from accountapps.config import DEFAULTS

    assert DEFAULTS["ACCOUNTAPPS_WEBHOOK_RETRY_HOURS"] >= 24


def test_retries_end_in_a_dead_letter_after_the_retry_period(app, admin, receiver, subscription,
                                                             application):
    receiver.answer = lambda _payload: 500
    deliver_until(app, lambda: bool(deliveries(admin, subscription, status="dead")),
                  retry_for=timedelta(seconds=0.3))
    [dead] = deliveries(admin, subscription, status="dead")
    assert dead["responseStatus"] == 500 and dead["attempts"] >= 2
    count = len(receiver.arrivals)
    deliver(app)
    assert len(receiver.arrivals) == count  # a dead letter is not tried again


def test_a_dead_letter_is_delivered_again_on_request(app, admin, receiver, subscription,
                                                     application):
    receiver.answer = lambda _payload: 500
    deliver_until(app, lambda: bool(deliveries(admin, subscription, status="dead")),
                  retry_for=timedelta(seconds=0.2))
    receiver.answer = lambda _payload: 204
    again = admin.post(subscription["_links"]["apiture:redeliveries"]["href"])
    assert again.status_code == 200, again.json
    assert [d["status"] for d in again.json["_embedded"]["items"]] == ["pending"]
    deliver(app)
    assert len(receiver.delivered()) == 1
    assert deliveries(admin, subscription, status="dead") == []


def test_a_delivered_event_can_be_delivered_again(app, admin, receiver, subscription, application):
    deliver(app)
    [delivery] = deliveries(admin, subscription)
    admin.post(subscription["_links"]["apiture:redeliveries"]["href"],
               {"deliveries": [delivery["_id"]]})
    deliver(app)
    assert [a.webhook_id for a in receiver.delivered()] == [delivery["eventId"]] * 2


def test_one_resources_events_arrive_in_order_though_one_fails(app, admin, user, receiver,
                                                               subscription, application):
    changed = user.patch(href(application.json, "self"), {"accountName": "Rainy day"},
                         headers={"If-Match": application.headers["ETag"]})
    user.post(href(changed.json, "apiture:cancel"))
    failed: list[str] = []

    def answer(payload) -> int:
        if payload["type"] == "application.created" and not failed:
            failed.append(payload["type"])
            return 500
        return 204

    receiver.answer = answer
    deliver_until(app, lambda: len(receiver.delivered()) == 3, workers=8)
    assert [a.payload["type"] for a in receiver.arrivals] == [
        "application.created", "application.created", "application.updated",
        "application.canceled"]


def patched(user, application, times: int) -> None:
    """``times`` renames of ``application``, one after the other."""
    tag = application.headers["ETag"]
    for number in range(times):
        changed = user.patch(href(application.json, "self"), {"accountName": f"Name {number}"},
                             headers={"If-Match": tag})
        assert changed.status_code == 200, changed.json
        tag = changed.headers["ETag"]


def test_one_resources_queued_events_go_out_in_one_round_in_order(app, admin, user, receiver,
                                                                   subscription, application):
    patched(user, application, 5)
    with app.test_client() as client:
        settle(Api(client, headers_for("admin-1", ADMIN_SCOPES)))
    settings = dispatch.Settings.from_config(app.config, API)
    with app.app_context():
        assert dispatch.Dispatcher(settings).run_once() == 6
    assert [a.payload["type"] for a in receiver.delivered()] == [
        "application.created", *["application.updated"] * 5]
    revisions = [a.payload["data"]["resource"]["revision"] for a in receiver.delivered()]
    assert revisions == sorted(revisions) and len(set(revisions)) == 6


def test_a_failure_sends_back_the_queued_events_behind_it_untried(app, admin, user, receiver,
                                                                   subscription, application):
    patched(user, application, 3)
    receiver.answer = lambda payload: 500 if payload["type"] == "application.updated" else 204
    deliver(app, retry_base=60, retry_max=60)
    assert [a.payload["type"] for a in receiver.arrivals] == [
        "application.created", "application.updated"]
    with app.app_context(), db.database.connection_context():
        waiting = list(WebhookDelivery.select().where(WebhookDelivery.status == "pending")
                       .order_by(WebhookDelivery.id))
    assert [(d.attempts, d.claim) for d in waiting] == [(1, None), (0, None), (0, None)]
    assert [d.first_attempt_at is None for d in waiting] == [False, True, True]


def test_other_resources_do_not_wait_for_a_failing_one(app, admin, client, receiver,
                                                       make_applications):
    subscribe(admin, receiver)
    first, second = make_applications(2)
    receiver.answer = lambda payload: (
        500 if payload["data"]["resource"]["_id"] == first["_id"] else 204)
    deliver(app, retry_base=60, retry_max=60)
    assert [a.payload["data"]["resource"]["_id"] for a in receiver.delivered()] == [
        second["_id"]]


def test_a_paused_subscription_receives_its_events_when_resumed(app, admin, receiver,
                                                                subscription, application):
    link = subscription["_links"]["self"]["href"]
    paused = admin.patch(link, {"paused": True}, headers={"If-Match": admin.get(link).headers[
        "ETag"]})
    deliver(app)
    assert receiver.arrivals == []
    admin.patch(link, {"paused": False}, headers={"If-Match": paused.headers["ETag"]})
    deliver(app)
    assert len(receiver.delivered()) == 1


def test_a_redirect_is_not_followed(app, admin, receiver, subscription, application):
    receiver.answer = lambda _payload: 307
    deliver(app, retry_base=60, retry_max=60)
    assert [a.path for a in receiver.arrivals] == ["/hooks"]
    assert deliveries(admin, subscription)[0]["responseStatus"] == 307


def test_a_private_receiver_is_refused_at_delivery_time_too(app, admin, receiver, subscription,
                                                            application):
    # subscribed while private receivers were allowed; the dispatcher now refuses them
    deliver(app, allow_private=False, retry_base=60, retry_max=60)
    assert receiver.arrivals == []
    [delivery] = deliveries(admin, subscription)
    assert delivery["status"] == "pending" and delivery["error"].startswith("refused")


def test_a_slow_receiver_times_out(app, admin, receiver, subscription, application):
    receiver.delay = 0.6
    deliver(app, timeout=0.2, retry_base=60, retry_max=60)
    [delivery] = deliveries(admin, subscription)
    assert delivery["status"] == "pending"
    assert "timed out" in delivery["error"].lower() or "timeout" in delivery["error"].lower()


def test_unsubscribing_drops_the_deliveries_owed(app, admin, receiver, subscription, application):
    receiver.answer = lambda _payload: 500
    deliver(app, retry_base=60, retry_max=60)
    admin.delete(subscription["_links"]["self"]["href"])
    with app.app_context(), db.database.connection_context():
        assert WebhookDelivery.select().count() == 0


def test_fanning_out_twice_owes_each_event_once(app, admin, receiver, subscription, application):
    settle(admin)
    with app.app_context(), db.database.connection_context():
        assert dispatch.fan_out() == 1
        assert dispatch.fan_out() == 0


def test_pruning_keeps_an_event_until_it_is_delivered(app, admin, client, receiver,
                                                      subscription, make_applications):
    first, _newest = make_applications(2)
    receiver.answer = lambda payload: (
        500 if payload["data"]["resource"]["_id"] == first["_id"] else 204)
    deliver(app, retry_base=60, retry_max=60)
    later = utcnow() + timedelta(days=31)
    with app.app_context(), db.database.connection_context():
        assert events.prune(now=later) == 0  # the first is owed, the newest always stays
    receiver.answer = lambda _payload: 204
    with app.app_context(), db.database.connection_context():
        WebhookDelivery.update(next_attempt_at=utcnow()).execute()
    deliver(app)
    with app.app_context(), db.database.connection_context():
        assert events.prune(now=later) == 1


def test_a_burst_of_events_is_claimed_without_reading_every_delivery_per_head(
        app, admin, receiver, subscription):
    """After a burst, the claim finds each queue's head through the queue's index
    (PostgreSQL, planning with statistics from before the burst, read every
    pending delivery per candidate: seconds for a few thousand)."""
    now = utcnow()
    burst = [{"id": new_id(), "type": "application.updated", "occurred_at": now,
              "resource_type": "application", "resource_id": new_id(), "revision": 2,
              "summary": {"state": "running"}} for _ in range(4000)]
    delivered = [(subscription["_id"], 1, new_id(), "application.updated", new_id(),
                  "delivered", 1, now, now) for _ in range(4000)]
    with app.app_context(), db.database.connection_context():
        with db.write_transaction():
            dispatch._insert_deliveries(delivered)
        db.analyze("webhook_delivery")  # statistics that know of no pending delivery
        with db.write_transaction():
            for start in range(0, len(burst), 500):
                Event.insert_many(burst[start:start + 500]).execute()
        while dispatch.fan_out(5000):
            pass
        started = time.perf_counter()
        claimed = dispatch.claim(dispatch.Settings.from_config(app.config, API))
        took = time.perf_counter() - started
    assert len(claimed) == 64
    assert took < 1.0
