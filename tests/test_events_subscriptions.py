"""Webhook subscriptions: the institution's receivers, their secrets, and refused URLs."""

from __future__ import annotations

import pytest
from conftest import API_KEY, Api, headers_for

from accountapps.domain import receivers

PUBLIC_RECEIVER = "https://93.184.215.14/hooks"  # a literal public address: no DNS needed


@pytest.fixture
def auditor(client) -> Api:
    return Api(client, headers_for("auditor-1", "banking/read admin/read"))


def subscribe(admin, url: str = PUBLIC_RECEIVER, events=("*",), **fields):
    return admin.post("/webhookSubscriptions", {"url": url, "events": list(events), **fields})


def test_the_root_links_the_subscriptions(client):
    root = client.get("/accountApplications/", headers={"API-Key": API_KEY})
    assert root.json["_links"]["apiture:webhookSubscriptions"]["href"].endswith(
        "/webhookSubscriptions")


def test_subscribing_answers_201_with_the_secret_once(admin):
    created = subscribe(admin, events=["application.approved"], description="Core banking")
    assert created.status_code == 201, created.json
    assert created.json["secret"].startswith("whsec_")
    assert created.headers["Location"] == created.json["_links"]["self"]["href"]
    again = admin.get(created.headers["Location"])
    assert again.status_code == 200
    assert "secret" not in again.json
    assert again.json["events"] == ["application.approved"]
    assert again.json["description"] == "Core banking"


def test_each_subscription_has_its_own_secret(admin):
    assert subscribe(admin).json["secret"] != subscribe(admin).json["secret"]


def test_the_collection_lists_every_subscription(admin, auditor):
    first, second = subscribe(admin).json, subscribe(admin).json
    listed = auditor.get("/webhookSubscriptions")
    assert [item["_id"] for item in listed.json["_embedded"]["items"]] == [
        first["_id"], second["_id"]]


def test_an_applicant_may_neither_subscribe_nor_list(user):
    assert subscribe(user).status_code == 403
    assert user.get("/webhookSubscriptions").status_code == 403


def test_an_auditor_may_read_but_not_subscribe(admin, auditor):
    created = subscribe(admin)
    assert auditor.get(created.headers["Location"]).status_code == 200
    assert subscribe(auditor).status_code == 403


def test_a_patch_needs_if_match(admin):
    created = subscribe(admin)
    assert admin.patch(created.headers["Location"], {"paused": True}).status_code == 428


def test_a_patch_with_the_current_etag_changes_it(admin):
    created = subscribe(admin)
    changed = admin.patch(created.headers["Location"], {
        "paused": True, "events": ["enrollment.*"], "url": "https://93.184.215.14/other"},
        headers={"If-Match": created.headers["ETag"]})
    assert changed.status_code == 200, changed.json
    assert (changed.json["paused"], changed.json["events"], changed.json["url"]) == (
        True, ["enrollment.*"], "https://93.184.215.14/other")
    assert changed.headers["ETag"] != created.headers["ETag"]


def test_a_patch_with_a_stale_etag_is_412(admin):
    created = subscribe(admin)
    link, tag = created.headers["Location"], created.headers["ETag"]
    assert admin.patch(link, {"paused": True}, headers={"If-Match": tag}).status_code == 200
    assert admin.patch(link, {"paused": False}, headers={"If-Match": tag}).status_code == 412


def test_a_patch_that_changes_nothing_keeps_the_etag(admin):
    created = subscribe(admin)
    same = admin.patch(created.headers["Location"], {"paused": False},
                       headers={"If-Match": created.headers["ETag"]})
    assert same.headers["ETag"] == created.headers["ETag"]


def test_deleting_a_subscription_removes_it(admin):
    created = subscribe(admin)
    assert admin.delete(created.headers["Location"]).status_code == 204
    assert admin.get(created.headers["Location"]).status_code == 404


def test_deleting_with_a_stale_etag_is_412(admin):
    created = subscribe(admin)
    link = created.headers["Location"]
    admin.patch(link, {"paused": True}, headers={"If-Match": created.headers["ETag"]})
    assert admin.delete(link, headers={"If-Match": created.headers["ETag"]}).status_code == 412


@pytest.mark.parametrize("events", [["application.approvedd"], ["loan.*"], ["a b"],
                                    ["application.approved|application.rejected"]])
def test_unknown_event_types_are_refused(admin, events):
    response = subscribe(admin, events=events)
    assert response.status_code == 422, response.json
    assert response.json["_error"]["_embedded"]["errors"][0]["attributes"]["name"] == "events"


def test_an_empty_list_of_event_types_is_refused(admin):
    assert subscribe(admin, events=[]).status_code in (400, 422)


@pytest.mark.parametrize("url", [
    "http://93.184.215.14/hooks",  # not https
    "https://127.0.0.1/hooks", "https://localhost/hooks", "https://[::1]/hooks",
    "https://[::ffff:127.0.0.1]/hooks", "https://10.1.2.3/hooks", "https://192.168.0.1/",
    "https://172.16.5.4/", "https://100.64.0.1/", "https://169.254.169.254/latest/meta-data",
    "https://0.0.0.0/", "https://user:secret@93.184.215.14/hooks", "ftp://93.184.215.14/",
    "https://93.184.215.14/hooks#fragment", "not a url", "https:///nohost",
    "https://no-such-host.invalid/hooks",
])
def test_receivers_that_are_not_public_https_are_refused(admin, url):
    response = subscribe(admin, url=url)
    assert response.status_code == 422, (url, response.json)
    assert response.json["_error"]["_embedded"]["errors"][0]["type"] == "receiverRefused"


def test_a_patch_to_a_refused_url_is_422(admin):
    created = subscribe(admin)
    refused = admin.patch(created.headers["Location"], {"url": "https://10.0.0.1/"},
                          headers={"If-Match": created.headers["ETag"]})
    assert refused.status_code == 422


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/hooks", "http://10.1.2.3/",
                                 "http://localhost:8080/"])
def test_private_receivers_are_allowed_in_development(url):
    receivers.check(url, allow_private=True)


@pytest.mark.parametrize("url", ["http://169.254.169.254/", "http://[fe80::1]/",
                                 "http://224.0.0.1/", "http://0.0.0.0/"])
def test_link_local_and_multicast_receivers_are_never_allowed(url):
    with pytest.raises(receivers.RefusedReceiver):
        receivers.check(url, allow_private=True)


def test_unknown_deliveries_cannot_be_redelivered(admin):
    created = subscribe(admin)
    response = admin.post(created.json["_links"]["apiture:redeliveries"]["href"],
                          {"deliveries": ["424242"]})
    assert response.status_code == 422


def test_a_new_subscription_has_no_deliveries(admin):
    created = subscribe(admin)
    deliveries = admin.get(created.json["_links"]["apiture:deliveries"]["href"])
    assert deliveries.status_code == 200
    assert deliveries.json["_embedded"]["items"] == []
    assert admin.get(created.json["_links"]["apiture:deadLetters"]["href"]).status_code == 200


def test_a_bad_delivery_status_filter_is_refused(admin):
    created = subscribe(admin)
    response = admin.get(created.json["_links"]["apiture:deliveries"]["href"],
                         query_string={"status": "lost"})
    assert response.status_code in (400, 422)
