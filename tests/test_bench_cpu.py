"""The benchmark's CPU accounting: whose CPU a phase's requests used (``bench/cpu.py``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from bench.cpu import CpuSampler

pytestmark = [pytest.mark.skipif(not CpuSampler().enabled, reason="reads Linux's /proc"),
              pytest.mark.own_database]


def sampler_with(samples: list[tuple[float, dict[str, float], float]]) -> CpuSampler:
    sampler = CpuSampler()
    sampler.samples = samples
    return sampler


def test_per_request_divides_the_window_cpu_by_its_requests():
    sampler = sampler_with([(t, {"server": 0.5 * t, "loadgen": 0.1 * t}, 0.2 * t)
                            for t in (0.0, 1.0, 2.0, 3.0, 4.0)])
    # 1,000 requests in the 4 s window; 0.5 CPU-s/s of server is 2 ms per request.
    figures = sampler.per_request(0.0, 4.0, 1000)
    assert figures == {"server": 2.0, "loadgen": 0.4, "idle": 0.8}


def test_samples_outside_the_window_are_left_out():
    # A busy warm-up before 10 s and a busy next phase after 14 s must not count.
    samples = [(9.0, {"server": 0.0}, 0.0), (10.0, {"server": 5.0}, 0.0)]
    samples += [(10.0 + t, {"server": 5.0 + 0.25 * t}, 0.0) for t in (1.0, 2.0, 3.0, 4.0)]
    samples += [(15.0, {"server": 50.0}, 0.0)]
    figures = sampler_with(samples).per_request(10.0, 14.0, 400)
    assert figures["server"] == pytest.approx(2.5)


def test_too_few_samples_give_no_figures():
    assert sampler_with([(0.5, {}, 0.0)]).per_request(0.0, 1.0, 10) == {}
    assert sampler_with([(t, {}, 0.0) for t in range(5)]).per_request(0.0, 4.0, 0) == {}


def test_a_watched_process_tree_is_counted_under_its_role():
    child = subprocess.Popen([sys.executable, "-c",
                              "import os, time\n"
                              "if os.fork() == 0:\n"  # a grandchild: counted with its tree
                              "    end = time.process_time() + 0.4\n"
                              "    while time.process_time() < end: pass\n"
                              "    os._exit(0)\n"
                              "os.wait()\n"
                              # Alive a while with the grandchild's time in its own
                              # (cutime): a sampler slowed by a busy machine still sees it.
                              "time.sleep(1.0)"])
    sampler = CpuSampler(interval=0.05)
    sampler.watch("server", child.pid)
    sampler.start()
    child.wait(timeout=30)
    time.sleep(0.1)
    sampler.stop()
    used = sampler.samples[-1][1]
    assert used.get("server", 0.0) >= 0.3
    assert os.getpid() not in sampler.roots
