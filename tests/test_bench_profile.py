"""``bench.profile --cold`` times requests that find the processor's caches evicted."""

from __future__ import annotations

from bench import profile


def test_a_cold_run_sends_each_request_once_and_counts_its_status():
    sent: list[int] = []
    statuses: dict[int, int] = {}

    def one(index: int) -> int:
        sent.append(index)
        return 304 if index % 2 else 200

    profile.cold_run(one, 4, statuses)
    assert (sent, statuses) == ([0, 1, 2, 3], {200: 2, 304: 2})


def test_a_cold_run_times_the_requests_not_the_eviction():
    _elapsed, cpu = profile.cold_run(lambda index: 200, 3, {})
    # Writing over 64 MiB three times takes tens of milliseconds of CPU; these
    # requests next to nothing (wall time is left out: a busy machine stretches it).
    assert 0 <= cpu < 0.005
