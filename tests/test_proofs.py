"""The multi-process guarantees, proven against real gunicorn workers (short form).

Each runs on SQLite and on PostgreSQL (the suite runs once per database).
bench/proofs.py runs the same scenarios with larger numbers.
"""

from __future__ import annotations

import pytest
from conftest import API_KEY, SECRET
from proof_scenarios import (
    Credentials,
    concurrent_expiry,
    concurrent_upgrades,
    durability,
    racing_patches,
    racing_transitions,
)

from accountapps import create_app
from accountapps.storage import db, migrations
from accountapps.storage.models import SchemaVersion

pytestmark = pytest.mark.slow

CREDS = Credentials(API_KEY, SECRET)


def test_one_etag_racing_patches_across_workers_gives_exactly_one_200(gunicorn_server):
    server = gunicorn_server(workers=4)
    result = racing_patches(server, CREDS, clients=12)
    assert result["statuses"] == {200: 1, 412: 11}
    assert result["final_name"] == f"writer {result['winners'][0]}"
    assert result["final_etag"] == result["winner_etags"][0]


def test_conflicting_transitions_across_workers_exactly_one_wins(gunicorn_server, app):
    server = gunicorn_server(workers=4)
    for outcome in racing_transitions(server, CREDS, app, rounds=3):
        winners = [t for t, status in outcome["statuses"].items() if status == 200]
        assert len(winners) == 1, outcome
        assert sorted(outcome["statuses"].values()) == [200, 409, 409, 409], outcome
        assert outcome["state"] == winners[0]
        assert outcome["transitions"] == [("running", winners[0])]


def test_acknowledged_writes_survive_sigkill_of_the_whole_server(gunicorn_server, app):
    server = gunicorn_server(workers=2)
    report = durability(server, CREDS, app, writers=4, kills=2, seconds_between=1.5)
    assert report["acknowledged_writes"] > 20, report  # the load really ran
    assert report["lost_applications"] == []
    assert report["lost_or_phantom_updates"] == []
    assert report["half_written"] == []


def test_expiry_sweeps_on_two_hosts_expire_each_application_once(gunicorn_server, app,
                                                                 app_settings):
    server = gunicorn_server(workers=1)
    result = concurrent_expiry(app_settings, CREDS, server, app, applications=30, hosts=2)
    assert result["exit_codes"] == [0, 0], result["errors"]
    assert result["states"] == {"expired": 30}
    assert result["expiry_records_per_application"] == {1: 30}


def test_concurrent_db_upgrade_on_an_empty_database_applies_each_migration_once(
        app_settings, empty_database_url):
    settings = {**app_settings, "ACCOUNTAPPS_DATABASE_URL": empty_database_url}
    result = concurrent_upgrades(settings, processes=4)
    assert result["exit_codes"] == [0, 0, 0, 0], result["errors"]
    create_app({**settings, "ACCOUNTAPPS_AUTO_MIGRATE": False})
    with db.database.connection_context():
        versions = [row.version for row in SchemaVersion.select().order_by(
            SchemaVersion.version)]
    assert versions == [version for version, _n, _m in migrations.available()]
    assert sum("applied:" in output for output in result["outputs"]) == 1
