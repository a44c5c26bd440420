"""The benchmark's --reuse: which seeded database it may take again."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from bench import run

pytestmark = pytest.mark.own_database

URL = "postgresql://bench@127.0.0.1/one-database-for-every-size"


@pytest.fixture
def seedings(tmp_path, monkeypatch) -> list[int]:
    """Seeding without a database: each call's size is recorded."""
    made: list[int] = []

    def fake_seed(command, **_kwargs):
        rows = int(command[command.index("--rows") + 1])
        made.append(rows)
        return SimpleNamespace(stdout=json.dumps({"rows": rows, "seconds": 0.1}))

    monkeypatch.setattr(run, "RESULTS", tmp_path)
    monkeypatch.setattr(run.subprocess, "run", fake_seed)
    monkeypatch.setattr(run, "applications_in", lambda url: 0)
    return made


def test_reuse_takes_the_database_seeded_before_at_that_size(seedings):
    run.seeded(URL, 10_000, reuse=False)
    assert run.seeded(URL, 10_000, reuse=True)["rows"] == 10_000
    assert seedings == [10_000]


def test_a_database_seeded_again_at_another_size_is_not_reused_for_the_first(seedings):
    run.seeded(URL, 10_000, reuse=False)
    run.seeded(URL, 1_000_000, reuse=False)  # the same PostgreSQL database, reseeded
    run.seeded(URL, 10_000, reuse=True)
    assert seedings == [10_000, 1_000_000, 10_000]
