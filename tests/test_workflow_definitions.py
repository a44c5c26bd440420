"""Workflow definitions: snapshotted at creation, so a catalog change spares running ones."""

from __future__ import annotations

import copy
import json
import os
from importlib import resources

import pytest
from workflow_support import PREMIERE_SAVINGS, codes, complete_personal, fetch, href

from accountapps.domain import workflow

PREMIERE_ID = PREMIERE_SAVINGS.rsplit("/", 1)[1]


def _catalog() -> dict:
    shipped = resources.files("accountapps.domain").joinpath("data/products.json")
    return json.loads(shipped.read_text())


def _premiere(catalog: dict) -> dict:
    return next(p for p in catalog["products"] if p["_id"] == PREMIERE_ID)


@pytest.fixture
def catalog_file(tmp_path):
    path = tmp_path / "products.json"
    path.write_text(json.dumps(_catalog()))
    return path


@pytest.fixture
def app_settings(app_settings, catalog_file):
    return {**app_settings, "ACCOUNTAPPS_CATALOG_FILE": str(catalog_file)}


def _publish_version_2(path) -> None:
    """The institution adds a required document to Premiere Savings (version 2)."""
    catalog = _catalog()
    definition = _premiere(catalog)["workflow"]
    definition["version"] = 2
    definition["tasks"][1:1] = [
        {"_id": "document-proofOfAddress", "type": "document", "actor": "applicant",
         "document": "proofOfAddress", "label": "Provide a proof of address"},
        {"_id": "review-proofOfAddress", "type": "documentReview", "actor": "institution",
         "document": "proofOfAddress", "label": "Review the proof of address"},
    ]
    stat = os.stat(path)
    path.write_text(json.dumps(catalog))
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


def test_the_workflow_resource_names_the_definition_and_version_in_use(user):
    created = user.post("/applications", complete_personal())
    shown = user.get(href(created.json, "apiture:workflow"))
    assert shown.status_code == 200
    assert shown.json["definition"] == {"_id": "premiere-savings", "version": 1,
                                        "productId": PREMIERE_ID}
    assert shown.json["tasks"] == created.json["tasks"]
    assert href(shown.json, "apiture:application") == href(created.json, "self")


def test_a_workflow_change_mid_flight_leaves_running_applications_on_their_version(
        user, other, admin, catalog_file):
    before = user.post("/applications", complete_personal())
    _publish_version_2(catalog_file)
    after = other.post("/applications", complete_personal())

    assert user.get(href(before.json, "apiture:workflow")).json["definition"]["version"] == 1
    assert other.get(href(after.json, "apiture:workflow")).json["definition"]["version"] == 2
    assert "documentMissing" in codes(after.json)
    assert after.json["state"] == "running"

    # The old application finishes on the old rules: no proof of address needed.
    verified = admin.post(href(fetch(admin, before).json, "apiture:identityVerifications"),
                          json={"applicant": before.json["applicants"][0]["_id"],
                                "result": "verified"})
    assert verified.json["blockers"] == []
    approved = admin.post(href(verified.json, "apiture:approve"))
    assert approved.json["state"] == "approved"


def test_the_funding_limits_are_those_of_the_definition_started_with(
        user, other, catalog_file):
    before = user.post("/applications", complete_personal())
    catalog = _catalog()
    _premiere(catalog)["minimumFunding"] = "2000.00"
    stat = os.stat(catalog_file)
    catalog_file.write_text(json.dumps(catalog))
    os.utime(catalog_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = other.post("/applications", complete_personal())
    assert "fundingAmountBelowMinimum" not in codes(fetch(user, before).json)
    assert "fundingAmountBelowMinimum" in codes(after.json)


def _definition(**changes) -> dict:
    definition = copy.deepcopy(_premiere(_catalog())["workflow"])
    definition.update(changes)
    return definition


@pytest.mark.parametrize("broken", [
    None,
    _definition(version=0),
    _definition(tasks=[]),
    _definition(tasks=[{"_id": "x", "type": "teleport"}]),
    _definition(tasks=[{"_id": "f", "type": "funding", "actor": "institution"},
                       {"_id": "a", "type": "accountApproval"}]),
    _definition(tasks=[{"_id": "f", "type": "funding"}]),
    _definition(tasks=[{"_id": "a", "type": "accountApproval"},
                       {"_id": "f", "type": "funding"}]),
    _definition(tasks=[{"_id": "r", "type": "documentReview", "document": "governmentId"},
                       {"_id": "a", "type": "accountApproval"}]),
    _definition(tasks=[{"_id": "c", "type": "consent", "consent": "telepathy"},
                       {"_id": "a", "type": "accountApproval"}]),
    _definition(tasks=[{"_id": "a", "type": "funding"}, {"_id": "a", "type": "accountApproval"}]),
], ids=["missing", "version", "no-tasks", "unknown-type", "wrong-actor", "no-approval",
        "approval-not-last", "review-without-document", "unknown-consent", "duplicate-id"])
def test_a_broken_definition_is_refused_when_the_catalog_loads(broken):
    with pytest.raises(ValueError, match="workflow"):
        workflow.validate_definition(broken, "test")

