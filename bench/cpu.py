"""Where a phase's machine time goes: CPU seconds per process role, read from ``/proc``.

The service, the baseline, the database server and the load generator share
the machine's cores, so a throughput ratio alone does not say whose time a
request spent. :class:`CpuSampler` reads every process's CPU time a few times a
second, files each process under a role (the process tree it belongs to, or
the PostgreSQL server), and :meth:`CpuSampler.per_request` turns a phase's
measured window into milliseconds of CPU per request for each role, plus the
cores left idle. Linux only: elsewhere nothing is sampled and the figures are
empty.
"""

from __future__ import annotations

import os
import threading
import time
from bisect import bisect_left, bisect_right
from pathlib import Path

PROC = Path("/proc")
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _processes() -> dict[int, tuple[int, str, float]]:
    """Every process: pid -> (parent pid, command name, CPU seconds used)."""
    found: dict[int, tuple[int, str, float]] = {}
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as handle:
                text = handle.read()
        except OSError:  # it ended meanwhile
            continue
        name = text[text.index("(") + 1:text.rindex(")")]
        fields = text[text.rindex(")") + 2:].split()
        # After the name: state, ppid, ..., utime (14th field of the line), stime.
        found[int(entry.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / TICKS)
    return found


def _idle_seconds() -> float:
    """Idle CPU seconds of the whole machine since boot (all cores)."""
    with open("/proc/stat") as handle:
        values = handle.readline().split()[1:]
    return (int(values[3]) + int(values[4])) / TICKS  # idle + iowait


class CpuSampler(threading.Thread):
    """Samples CPU time per role until :meth:`stop`; ``roots`` maps a role to a process tree."""

    def __init__(self, interval: float = 0.25) -> None:
        super().__init__(daemon=True)
        self.interval = interval
        self.roots: dict[int, str] = {}
        self.samples: list[tuple[float, dict[str, float], float]] = []
        self._seen: dict[int, tuple[str, float]] = {}
        self._done = threading.Event()
        self.enabled = (PROC / "stat").exists()

    def watch(self, role: str, pid: int) -> None:
        """Count ``pid`` and its descendants as ``role``."""
        self.roots[pid] = role

    def _role(self, pid: int, table: dict[int, tuple[int, str, float]]) -> str:
        current, hops = pid, 0
        while current in table and hops < 16:
            if current in self.roots:
                return self.roots[current]
            current, hops = table[current][0], hops + 1
        return "database" if table[pid][1] == "postgres" else "other"

    def sample(self) -> None:
        """Record each role's CPU seconds so far (processes that ended keep their last figure)."""
        table = _processes()
        for pid, (_, _, seconds) in table.items():
            known = self._seen.get(pid)
            role = known[0] if known else self._role(pid, table)
            self._seen[pid] = (role, seconds)
        totals: dict[str, float] = {}
        for role, seconds in self._seen.values():
            totals[role] = totals.get(role, 0.0) + seconds
        self.samples.append((time.perf_counter(), totals, _idle_seconds()))

    def run(self) -> None:
        """Sample every ``interval`` seconds until stopped."""
        while self.enabled and not self._done.is_set():
            self.sample()
            self._done.wait(self.interval)

    def stop(self) -> None:
        """Stop sampling (after one last sample)."""
        self._done.set()
        self.join(timeout=5)
        if self.enabled:
            self.sample()

    def per_request(self, start: float, end: float, requests: int) -> dict[str, float]:
        """Each role's CPU milliseconds per request within ``[start, end]`` (``perf_counter``).

        Taken between the first sample inside the window and the last one, so
        a warm-up or the next phase does not leak in; ``idle`` is the cores'
        idle time per request.
        """
        times = [at for at, _, _ in self.samples]
        first, last = bisect_left(times, start), bisect_right(times, end) - 1
        if not requests or last - first < 1:
            return {}
        (t0, before, idle0), (t1, after, idle1) = self.samples[first], self.samples[last]
        scale = 1000.0 / (requests * (t1 - t0) / (end - start))  # requests in the sampled span
        figures = {role: round((after.get(role, 0.0) - before.get(role, 0.0)) * scale, 3)
                   for role in sorted(set(after) | set(before))}
        figures["idle"] = round((idle1 - idle0) * scale, 3)
        return figures
