"""The benchmark's seeded applications are stored as the service stores them, so
that reading or writing one costs what it costs with a created one."""

from __future__ import annotations

import uuid
from datetime import UTC
from types import SimpleNamespace
from typing import Any

import pytest
from conftest import API_KEY, SECRET, headers_for

from accountapps import create_app
from accountapps.storage.models import Application
from bench import seed
from bench.loadgen import USER_SCOPES, create_body
from tests.openapi_validation import ValidatingClient

pytestmark = pytest.mark.own_database


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> SimpleNamespace:
    """The smallest benchmark database, an app serving it and an application created
    through the API beside the seeded ones."""
    url = f"sqlite:///{tmp_path_factory.mktemp('seed') / 'bench.db'}"
    info = seed.seed(url, 0)
    app = create_app({"ACCOUNTAPPS_DATABASE_URL": url, "ACCOUNTAPPS_API_KEYS": API_KEY,
                      "ACCOUNTAPPS_JWT_SECRET": SECRET, "ACCOUNTAPPS_LOG_LEVEL": "WARNING",
                      "ACCOUNTAPPS_RATE_LIMIT": "", "ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS": "",
                      "ACCOUNTAPPS_LINK_HOSTS": "www.example.com"})
    app.config["TESTING"] = True
    app.test_client_class = ValidatingClient
    creator = headers_for("seed-shape-creator", USER_SCOPES)
    created = app.test_client().post("/accountApplications/applications",
                                     json=create_body(1), headers=creator)
    assert created.status_code == 201, created.json
    reader, ids = sorted(info.readers.items())[0]
    return SimpleNamespace(app=app, info=info, created=created.json["_id"], creator=creator,
                           reader=headers_for(reader, USER_SCOPES), running=ids[0])


def _row(seeded: SimpleNamespace, application_id: str) -> Any:
    with seeded.app.app_context():
        return Application.get_by_id(application_id)


def test_a_seeded_document_has_the_keys_a_created_one_has(seeded):
    stored = _row(seeded, seeded.running).document
    made = _row(seeded, seeded.created).document
    assert set(stored) - {"organization"} == set(made) - {"organization"}
    assert set(stored["applicants"][0]) == set(made["applicants"][0])
    assert set(stored["accountApproval"]) == set(made["accountApproval"])


def test_a_seeded_application_keeps_its_products_workflow_as_a_created_one_does(seeded):
    assert (_row(seeded, seeded.running).document["workflow"]
            == _row(seeded, seeded.created).document["workflow"])


def test_seeded_ids_are_version_7_uuids_of_their_creation_time(seeded):
    row = _row(seeded, seeded.running)
    made = uuid.UUID(row.id)
    assert made.version == 7
    assert int(made.hex[:12], 16) == int(row.created_at.replace(tzinfo=UTC).timestamp() * 1000)


def test_a_seeded_application_in_progress_reads_like_a_created_one(seeded):
    client = seeded.app.test_client()
    stored = client.get(f"/accountApplications/applications/{seeded.running}",
                        headers=seeded.reader).json
    made = client.get(f"/accountApplications/applications/{seeded.created}",
                      headers=seeded.creator).json
    assert set(stored) == set(made)
    assert [task["type"] for task in stored["tasks"]] == [task["type"] for task in made["tasks"]]
