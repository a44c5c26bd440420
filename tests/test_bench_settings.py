"""The benchmark measures the gunicorn settings users deploy, and what it feeds the service."""

from __future__ import annotations

import pytest

from bench import candidates, loadgen, run
from tests.conftest import API_KEY, SECRET


def test_the_benchmark_runs_the_production_settings_by_default():
    args = run.parse_args([])
    assert args.config == "production"
    assert run.overrides(args) == {}
    settings = run.settings_of(args)
    assert settings["worker_class"] == "accountapps.web.serving.ThreadWorker"
    assert settings["access_log"] is True


def test_an_override_is_given_as_the_production_files_variable():
    args = run.parse_args(["--workers", "3", "--threads", "2", "--access-log", ""])
    assert run.overrides(args) == {"GUNICORN_WORKERS": "3", "GUNICORN_THREADS": "2",
                                   "GUNICORN_ACCESSLOG": ""}
    settings = run.settings_of(args)
    assert (settings["workers"], settings["threads"], settings["access_log"]) == (3, 2, False)


def test_overrides_apply_to_the_production_settings_only():
    with pytest.raises(SystemExit):
        run.overrides(run.parse_args(["--config", "bench-sync", "--workers", "3"]))


def test_a_candidate_names_known_settings_only():
    assert candidates.parse_candidate("workers=3 threads=2") == {"workers": "3", "threads": "2"}
    with pytest.raises(SystemExit):
        candidates.parse_candidate("workers=3 preload=1")


def test_memory_is_bounded_when_a_second_round_of_hostile_requests_adds_little():
    sizes = {"start": [80.0], "warm": [85.0], "hostile": [100.0], "end": [101.0]}
    assert run.memory_report(sizes)["ok"]
    assert not run.memory_report({**sizes, "end": [100.0 + run.RSS_GROWTH_LIMIT_MIB + 1]})["ok"]


def test_every_hostile_request_is_refused_with_a_client_error(client):
    session = loadgen.Session({"api_key": API_KEY, "secret": SECRET})
    for method, target, headers, body in loadgen.hostile_requests(session, "hostile-user"):
        response = client.open(target, method=method, headers=headers, data=body)
        assert 400 <= response.status_code < 500, (target, body[:60], response.status_code)
        assert response.is_json, (target, body[:60])


def test_a_baselines_drift_is_its_change_over_the_runs_start_and_end_as_a_share_of_their_mean():
    assert run.baseline_drift({"throughput": 2279.0}, {"throughput": 2974.0}) == 0.265
    assert run.baseline_drift({"throughput": 3000.0}, {"throughput": 3000.0}) == 0.0
    assert run.baseline_drift({"throughput": 0.0}, {"throughput": 0.0}) == 0.0


def _result(drift: float) -> dict:
    base = {"throughput": 3000.0, "p50_ms": 2.0, "p99_ms": 6.0}
    return {"rows": 10, "document_bytes": 2712, "operations": {}, "hostile": None,
            "memory": {"start_mib": [1.0], "warm_mib": [1.0], "hostile_mib": [1.0],
                       "end_mib": [1.0], "growth_mib": 0.0, "limit_mib": 4.0, "ok": True},
            "baseline": {**base, "jsonify": base, "before": base, "after": base,
                         "jsonify_before": base, "jsonify_after": base, "drift": drift},
            "idempotency": None}


def test_a_run_whose_baselines_drifted_says_its_ratios_are_not_to_be_trusted(capsys):
    run.print_table(_result(0.26), "SQLite")
    assert "WARNING: a baseline moved by 26%" in capsys.readouterr().out


def test_a_run_whose_baselines_held_still_carries_no_warning(capsys):
    run.print_table(_result(0.04), "SQLite")
    assert "WARNING" not in capsys.readouterr().out


def _layout(*only: str) -> list[tuple[str, int | None]]:
    phases, _ = run.phases_of(run.parse_args(["--seconds", "4", "--only", *only]), 1)
    return [(phase["name"], phase.get("slot", phase.get("slice"))) for phase in phases]


def test_each_operation_runs_between_two_slices_of_each_baseline():
    assert _layout("get_one", "page") == [
        ("baseline_bytes", 0), ("baseline_jsonify", 0), ("get_one", 0),
        ("baseline_bytes", 1), ("baseline_jsonify", 1), ("page", 1),
        ("baseline_bytes", 2), ("baseline_jsonify", 2)]


def test_the_alternating_creates_share_one_pair_of_neighbouring_baselines():
    layout = _layout("create", "create_idempotent", "patch")
    creates = [slot for name, slot in layout if name in ("create", "create_idempotent")]
    assert len(creates) == 2 * run.IDEMPOTENCY_SLICES and set(creates) == {0}
    assert layout[-3:] == [("patch", 1), ("baseline_bytes", 2), ("baseline_jsonify", 2)]


def test_an_operations_ratio_is_to_the_mean_of_the_baselines_just_before_and_after_it():
    slices = [3000.0, 2000.0, 2400.0]
    assert run.neighbour_baseline(slices, 0, fallback=1.0) == 2500.0
    assert run.neighbour_baseline(slices, 1, fallback=1.0) == 2200.0


def test_without_a_baseline_on_both_sides_the_runs_own_is_used():
    assert run.neighbour_baseline([3000.0], 0, fallback=2900.0) == 2900.0
    assert run.neighbour_baseline([3000.0, 0.0], 0, fallback=2900.0) == 2900.0


def test_an_operation_judged_by_one_requests_time_runs_with_one_client():
    phases, _ = run.phases_of(run.parse_args(["--only", "record"]), 1)
    assert [phase.get("clients") for phase in phases if phase["name"] == "record"] == [1]


@pytest.mark.parametrize(("clients", "procs", "shares"), [
    (8, 2, [[0, 1, 2, 3], [4, 5, 6, 7]]),
    (1, 2, [[0], []]),
    (5, 2, [[0, 1, 2], [3, 4]]),
])
def test_the_clients_are_shared_out_among_the_load_generating_processes(clients, procs, shares):
    assert [loadgen.client_indexes(clients, procs, proc) for proc in range(procs)] == shares
