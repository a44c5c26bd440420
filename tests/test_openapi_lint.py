"""Redocly's recommended rules find nothing wrong with the committed OpenAPI document."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
from live_server import ROOT

pytestmark = pytest.mark.own_database


def test_redocly_reports_no_error_and_no_warning():
    redocly = os.environ.get("ACCOUNTAPPS_TEST_REDOCLY") or shutil.which("redocly")
    if not redocly:
        pytest.skip("Redocly CLI not installed (.ci/run installs it with npm; "
                    "ACCOUNTAPPS_TEST_REDOCLY names it)")
    linted = subprocess.run([redocly, "lint", str(ROOT / "openapi" / "openapi.yaml"),
                             "--format=json"], capture_output=True, text=True, timeout=300)
    report = json.loads(linted.stdout)
    assert report["totals"] == {**report["totals"], "errors": 0, "warnings": 0}, linted.stdout
