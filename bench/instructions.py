"""Instructions per request, counted by valgrind: a measure that a busy machine does not move.

``python -m bench.instructions --op create create_idempotent`` runs each
operation in-process (``bench.profile --time``: the WSGI app, no gunicorn, no
sockets) under ``valgrind --tool=callgrind`` twice, with a few and with more
requests, and prints the difference of the two runs' instruction counts per
request: start-up and seeding cancel out. The same work gives the same count
to a fraction of a percent whatever else the machine does, where its time per
request can move by tens of percent from one run to the next (see
docs/performance.md). So it can tell whether a change removes work, and what
an ``Idempotency-Key`` or an event adds to a write, before ``make bench`` says
what that is worth under gunicorn.

What it does not count: time in the kernel (reading and writing the
database's pages, locks, sockets), waiting, and what concurrency costs (other
workers' commits, context switches). ``make bench`` measures those.

``--without-events`` also counts each write with its event not recorded
(``bench.profile --without-events``) and prints recording's share. Needs
valgrind (Debian's package); each run takes about a minute.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from bench.events import OPERATIONS as WRITES
from bench.profile import OPERATIONS
from bench.run import ROOT, database_url, seeded

#: Operations whose preparation grows with the requests (a cancel's application
#: is created first): it is counted alone and taken off.
PREPARED = ("cancel",)
#: Operations whose two runs cannot run side by side: both would PATCH the same
#: application, each making the other's ETag stale (``412``).
ONE_AT_A_TIME = ("patch",)
#: The status every request of an operation must get for its count to stand.
EXPECTED = {"get_304": 304, "create": 201, "create_idempotent": 201}
_STATUSES = re.compile(r"statuses: (\{[^}]*\})")
#: callgrind's closing summary: ``==123== Collected : 4858087956`` (newer
#: valgrinds) or ``==123== I   refs:      4,858,087,956``.
_TOTAL = re.compile(r"==\d+==\s+(?:Collected\s*:|I\s+refs:)\s+([\d,]+)")


def total_instructions(valgrind_output: str) -> int:
    """The instruction count in callgrind's summary (``ValueError`` if there is none)."""
    found = _TOTAL.findall(valgrind_output)
    if not found:
        raise ValueError("no instruction count in valgrind's output")
    return int(found[-1].replace(",", ""))


def per_request(fewer: tuple[int, int], more: tuple[int, int]) -> float:
    """Instructions per request from two runs, each ``(requests, instructions)``."""
    (n1, i1), (n2, i2) = fewer, more
    if n2 <= n1:
        raise ValueError("the second run must send more requests")
    return (i2 - i1) / (n2 - n1)


def check_statuses(op: str, output: str) -> None:
    """``RuntimeError`` unless every request of the run got ``op``'s expected status:
    a count of refusals (a stale ``ETag``, say) is not the operation's."""
    found = _STATUSES.search(output)
    expected = EXPECTED.get(op, 200)
    statuses = ast.literal_eval(found.group(1)) if found else {}
    if set(statuses) != {expected}:
        raise RuntimeError(f"{op}: expected only {expected}s, got {statuses or output!r}")


def count(op: str, requests: int, rows: int, url: str, *, without_events: bool = False,
          setup_only: bool = False) -> int:
    """The instructions of one in-process run of ``requests`` requests of ``op``
    (``setup_only``: of preparing them only)."""
    command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
               sys.executable, "-m", "bench.profile", "--op", op, "--time",
               "--requests", str(requests), "--rows", str(rows), "--database-url", url]
    if without_events:
        command.append("--without-events")
    if setup_only:
        command.append("--setup-only")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONHASHSEED": "0"}
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise RuntimeError(f"{op} under valgrind failed:\n{done.stdout}\n{done.stderr}")
    if not setup_only:
        check_statuses(op, done.stdout)
    return total_instructions(done.stderr)


def measure(op: str, requests: tuple[int, int], rows: int, url: str, *,
            without_events: bool = False) -> float:
    """Instructions per request of ``op`` (its two runs side by side, one per core,
    unless they would get in each other's way)."""

    def pair(setup_only: bool) -> float:
        with ThreadPoolExecutor(max_workers=1 if op in ONE_AT_A_TIME else 2) as pool:
            counts = list(pool.map(lambda n: (n, count(
                op, n, rows, url, without_events=without_events, setup_only=setup_only)),
                requests))
        return per_request(counts[0], counts[1])

    return pair(False) - (pair(True) if op in PREPARED else 0.0)


def main(argv: list[str] | None = None) -> int:
    """Count, print a table, and the shares the pairs measured give."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--op", nargs="+", choices=OPERATIONS, default=["get_304"])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--requests", type=int, nargs=2, default=(40, 160),
                        metavar=("FEWER", "MORE"), help="the two runs' requests")
    parser.add_argument("--without-events", action="store_true",
                        help="also count each write without its event")
    parser.add_argument("--database-url",
                        help="another database than bench/results' SQLite file (a "
                             "PostgreSQL database's tables are dropped!)")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        print("valgrind is not installed (Debian: apt-get install valgrind)", file=sys.stderr)
        return 2
    url = database_url(args.database_url, args.rows)
    seeded(url, args.rows, reuse=True)  # once, outside valgrind (where it takes minutes)
    figures: dict[str, float] = {}
    for op in args.op:
        figures[op] = measure(op, tuple(args.requests), args.rows, url)
        print(f"{op:<20} {figures[op]:>12,.0f} instructions per request", flush=True)
        if args.without_events and op in WRITES:
            plain = figures[f"{op} without events"] = measure(
                op, tuple(args.requests), args.rows, url, without_events=True)
            print(f"{op + ' without events':<20} {plain:>12,.0f} instructions per request"
                  f"  (recording: {figures[op] / plain:.3f} x)", flush=True)
    if "create" in figures and "create_idempotent" in figures:
        print(f"an Idempotency-Key on a create: "
              f"{figures['create_idempotent'] / figures['create']:.3f} x the instructions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
