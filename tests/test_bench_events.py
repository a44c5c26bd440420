"""The events' benchmark (``bench/events.py``) in CI: its code path, not its targets.

A short run measures the three figures on SQLite: recording's cost (the
service beside :mod:`bench.without_events`, alternately), commit to delivery
under the writes, and one dispatcher's throughput. The targets are for a real
``make bench``; here each figure only has to be measured. A separate process
checks that the measurement device really records no event (it patches the
service, so never in this one).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from bench import events, run

pytestmark = pytest.mark.own_database

ROOT = run.ROOT

DEVICE_CHECK = """
import json, sys
from bench.loadgen import create_body
from bench.without_events import app
from accountapps.auth.security import mint_token
from accountapps.storage.db import database
from accountapps.storage.models import Event

headers = {"API-Key": "bench-key-0123456789abcdef",
           "Authorization": "Bearer " + mint_token("device-check", "banking/full",
                                                   secret=app.config["ACCOUNTAPPS_JWT_SECRET"])}
client = app.test_client()
created = client.post("/accountApplications/applications", json=create_body(1), headers=headers)
target = created.headers["Location"].rsplit("/", 1)[1]
canceled = client.post(f"/accountApplications/canceledApplications?application={target}",
                       headers=headers)
with app.app_context(), database.connection_context():
    print(json.dumps({"created": created.status_code, "canceled": canceled.status_code,
                      "events": Event.select().count()}))
"""


def test_the_measurement_device_changes_resources_without_recording_events(tmp_path):
    env = {"ACCOUNTAPPS_DATABASE_URL": f"sqlite:///{tmp_path / 'device.db'}",
           "ACCOUNTAPPS_API_KEYS": "bench-key-0123456789abcdef",
           "ACCOUNTAPPS_JWT_SECRET": "device-check-secret-long-enough-for-hs256-0123",
           "ACCOUNTAPPS_LINK_HOSTS": "www.example.com", "ACCOUNTAPPS_LOG_LEVEL": "WARNING",
           "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, "-c", DEVICE_CHECK], cwd=ROOT, env=env, check=True,
                         capture_output=True, text=True).stdout
    assert json.loads(out.strip().splitlines()[-1]) == {"created": 201, "canceled": 200,
                                                        "events": 0}


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    run.RESULTS.mkdir(parents=True, exist_ok=True)
    database = tmp_path_factory.mktemp("bench-events") / "events.db"
    args = run.parse_args(["--seconds", "1", "--warmup", "0.2", "--rows", "2000"])
    return events.measure(2000, args, f"sqlite:///{database}", dispatch_events=200)


@pytest.mark.slow
@pytest.mark.parametrize("operation", events.OPERATIONS)
def test_recording_cost_is_measured_for_each_write(figures, operation):
    row = figures["recording"][operation]
    assert row["errors"] == 0, row["first_error"]
    assert row["throughput_with"] > 0 and row["throughput_without"] > 0
    assert math.isfinite(row["time_per_request"]) and row["time_per_request"] > 0


@pytest.mark.slow
def test_every_write_under_the_dispatcher_is_delivered_and_timed(figures):
    latency = figures["latency"]
    assert latency["errors"] == 0
    # Every write is at least one event (a create may also block or start it).
    assert latency["events"] >= latency["writes"] > 0
    assert 0 < latency["p50_s"] <= latency["p99_s"] <= latency["max_s"]


@pytest.mark.slow
def test_one_dispatcher_delivers_every_seeded_event(figures):
    throughput = figures["throughput"]
    assert throughput["delivered"] == throughput["events"] == 200
    assert throughput["events_per_second"] > 0


@pytest.mark.slow
def test_the_results_name_each_missed_target(figures):
    missed = events.missed(figures, 2000)
    rows = [*figures["recording"].values(), figures["latency"], figures["throughput"]]
    assert len(missed) == sum(1 for row in rows if not row["ok"])
