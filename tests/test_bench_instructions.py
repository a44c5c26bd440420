"""``bench.instructions`` counts the instructions a request takes, from two runs under valgrind."""

from __future__ import annotations

import time

import pytest

from accountapps.domain import events, lifecycle
from bench import instructions
from bench.run import seeded

NEW_SUMMARY = "==4242== Events    : Ir\n==4242== Collected : 4858087956\n==4242==\n"
OLD_SUMMARY = "==2107== \n==2107== I   refs:      4,858,087,956\n"


@pytest.mark.parametrize("output", [NEW_SUMMARY, OLD_SUMMARY])
def test_the_count_is_read_from_callgrinds_summary(output):
    assert instructions.total_instructions(output) == 4_858_087_956


def test_output_without_a_summary_is_an_error_not_a_zero():
    with pytest.raises(ValueError):
        instructions.total_instructions("Traceback (most recent call last): ...")


def test_start_up_cancels_out_of_the_count_per_request():
    start_up, each = 4_000_000_000, 5_800_000
    fewer = (40, start_up + 40 * each)
    more = (160, start_up + 160 * each)
    assert instructions.per_request(fewer, more) == each


def test_the_second_run_must_send_more_requests():
    with pytest.raises(ValueError):
        instructions.per_request((160, 2), (40, 1))


def test_without_valgrind_the_command_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setattr(instructions.shutil, "which", lambda _name: None)
    assert instructions.main(["--op", "get_304"]) == 2
    assert "apt-get install valgrind" in capsys.readouterr().err


def test_a_cancels_preparation_is_counted_alone_and_taken_off(monkeypatch):
    # Each cancel needs an application created first; those creates are not the cancel's.
    def fake_count(op, requests, rows, url, *, without_events=False, setup_only=False):
        return 1_000 + requests * (700 if setup_only else 700 + 300)

    monkeypatch.setattr(instructions, "count", fake_count)
    assert instructions.measure("cancel", (40, 160), 10, "sqlite:///x") == 300
    assert instructions.measure("patch", (40, 160), 10, "sqlite:///x") == 1_000


def test_a_run_whose_requests_were_refused_counts_for_nothing():
    instructions.check_statuses("patch", "statuses: {200: 40}; per request: 1 us")
    with pytest.raises(RuntimeError, match="412"):
        instructions.check_statuses("patch", "statuses: {200: 12, 412: 28}; per request: 1 us")
    with pytest.raises(RuntimeError):
        instructions.check_statuses("create", "Traceback (most recent call last): ...")


def test_the_two_runs_of_a_patch_take_turns(monkeypatch):
    # Side by side, both would PATCH one application and make each other's ETag stale.
    running, most = [0], [0]

    def fake_count(op, requests, rows, url, *, without_events=False, setup_only=False):
        running[0] += 1
        most[0] = max(most[0], running[0])
        time.sleep(0.05)
        running[0] -= 1
        return requests * 10

    monkeypatch.setattr(instructions, "count", fake_count)
    instructions.measure("patch", (40, 160), 10, "sqlite:///x")
    assert most[0] == 1
    instructions.measure("get_304", (40, 160), 10, "sqlite:///x")
    assert most[0] == 2


def test_importing_the_service_without_events_makes_no_app():
    from bench import without_events

    assert "app" not in vars(without_events)


def test_disabling_events_leaves_changes_without_an_event(monkeypatch):
    from bench import without_events

    # Restored after the test: the other tests' changes record their events.
    monkeypatch.setattr(lifecycle.Kind, "event", lifecycle.Kind.event)
    monkeypatch.setattr(events, "record", events.record)
    without_events.disable_events()
    assert lifecycle.Kind.event(None) is None
    assert events.record is without_events._record_nothing


@pytest.mark.slow
@pytest.mark.own_database
def test_a_304_counted_under_valgrind_takes_a_plausible_number_of_instructions(tmp_path):
    if instructions.shutil.which("valgrind") is None:
        pytest.skip("valgrind is not installed (Debian package valgrind; .ci/run installs it)")
    url = f"sqlite:///{tmp_path / 'instructions.db'}"
    seeded(url, 2000, reuse=False)
    count = instructions.measure("get_304", (2, 6), 2000, url)
    # About 1.7 million on a 2026 x86-64 machine: a broken count is 0, negative or absurd.
    assert 300_000 < count < 20_000_000
