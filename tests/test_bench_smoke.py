"""A short run of the benchmark (``make bench``) in CI: catches performance regressions.

The service and the bare-Flask baseline run under gunicorn with the same
settings, driven by the same load generator, one after the other; every
figure is asserted as a ratio to the baseline of the same run, with margins
wide enough for a busy shared machine: an N+1 query or a per-request full
scan divides a ratio several times, noise does not.
"""

from __future__ import annotations

import pytest

from bench import run

#: The lowest acceptable throughput, as a fraction of the baseline's (the
#: targets of docs/bench.md are 2-4 times higher; these catch regressions).
FLOORS = {"get_one": 0.15, "get_304": 0.15, "page": 0.04, "page_admin": 0.04,
          "create": 0.04, "patch": 0.04, "cancel": 0.04}


@pytest.fixture(scope="module")
def figures(tmp_path_factory):
    run.RESULTS.mkdir(parents=True, exist_ok=True)
    database = tmp_path_factory.mktemp("bench") / "smoke.db"
    args = run.parse_args(["--seconds", "1.5", "--warmup", "0.3", "--rows", "2000"])
    return run.bench_size(2000, args, f"sqlite:///{database}")


@pytest.mark.slow
@pytest.mark.parametrize("operation", sorted(FLOORS))
def test_an_operation_keeps_its_share_of_the_baseline(figures, operation):
    measured = figures["operations"][operation]
    assert measured["errors"] == 0, measured["first_error"]
    assert measured["requests"] > 0
    assert measured["ratio"] >= FLOORS[operation], measured


@pytest.mark.slow
def test_the_baseline_serves_a_document_the_size_of_an_application(figures):
    assert figures["baseline"]["throughput"] > 0
    assert figures["document_bytes"] > 1000
