"""``make bench-candidates``: gunicorn settings side by side, to choose the defaults.

Each candidate is a set of overrides of the production ``gunicorn.conf.py``
(as an operator gives them: ``GUNICORN_WORKERS`` and so on), applied to both
servers, the service and its baselines. The candidates are measured one after
the other, in ``--rounds`` rounds (so that a change in a shared machine's load
falls on all of them), on one seeded database; the table gives each
operation's median ratio (to the same-bytes baseline for reads, to the jsonify
one for writes), the `GET` one p99 and how many targets each candidate meets.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from typing import Any

from bench import run

#: The candidates for a 2-core machine (a bigger one: see docs/performance.md).
DEFAULT_CANDIDATES = [
    "workers=5 threads=4",
    "workers=3 threads=4",
    "workers=2 threads=4",
    "workers=3 threads=2",
    "workers=2 threads=2",
    "workers=4 threads=1",
    "workers=3 threads=1",
    "workers=3 threads=2 access_log=",
    "workers=3 threads=2 max_requests=0",
]


def parse_candidate(text: str) -> dict[str, str]:
    """``"workers=3 threads=2"`` -> ``{"workers": "3", "threads": "2"}`` (known settings only)."""
    chosen = dict(part.split("=", 1) for part in text.split())
    unknown = set(chosen) - set(run.OVERRIDES)
    if unknown:
        raise SystemExit(f"unknown settings {sorted(unknown)}; known: {sorted(run.OVERRIDES)}")
    return chosen


def parse_args(argv: list[str] | None,
               ) -> tuple[argparse.Namespace, argparse.Namespace, int, str]:
    """This command's own options, ``bench.run``'s, and the size and database measured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", action="append", default=[],
                        help="overrides, e.g. 'workers=3 threads=2' (repeatable)")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each candidate")
    return run.repeated(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Measure every candidate in rounds; print and save the table."""
    own, args, rows, url = parse_args(argv)
    run.RESULTS.mkdir(parents=True, exist_ok=True)
    from_env = [text.strip() for text in os.environ.get("BENCH_CANDIDATES", "").split(";")]
    candidates = own.candidate or [text for text in from_env if text] or DEFAULT_CANDIDATES
    measured: dict[str, list[dict[str, Any]]] = {text: [] for text in candidates}
    for round_number in range(own.rounds):
        for text in candidates:
            for option in run.OVERRIDES:
                setattr(args, option, None)
            for option, value in parse_candidate(text).items():
                setattr(args, option, int(value) if option in
                        ("workers", "threads", "max_requests") else value)
            print(f"round {round_number + 1}: {text}", flush=True)
            measured[text].append(run.bench_size(rows, args, url))
    table = summarise(measured)
    print_table(table)
    report = {"taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": run.machine(), "rows": rows, "database": url.split(":", 1)[0],
              "settings": {k: v for k, v in vars(args).items() if k != "check"},
              "candidates": table}
    path = run.RESULTS / f"candidates-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {path.relative_to(run.ROOT)}")
    return 0


def summarise(measured: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Each candidate's median ratio and p99 per operation, and the targets it met
    (a target counts as met when its median ratio and median p99 meet it)."""
    table: dict[str, dict[str, Any]] = {}
    for text, results in measured.items():
        operations: dict[str, Any] = {}
        for name in results[0]["operations"]:
            figures = [result["operations"][name] for result in results]
            ratio = statistics.median(f["ratio"] for f in figures)
            p99 = statistics.median(f["p99_ms"] for f in figures)
            first = figures[0]
            met = (ratio >= first["target"] and p99 <= first["p99_limit_ms"]
                   if first["p50_limit_ms"] is None
                   else statistics.median(f["p50_ms"] for f in figures) < first["p50_limit_ms"])
            operations[name] = {"ratio": round(ratio, 3), "p99_ms": round(p99, 2), "met": met}
        table[text] = {"operations": operations,
                       "met": sum(row["met"] for row in operations.values()),
                       "of": len(operations),
                       "max_rss_mib": max(max(result["memory"]["end_mib"]) for result in results)}
    return table


def print_table(table: dict[str, dict[str, Any]]) -> None:
    """Candidates as rows, operations as columns: ratio/p99 ms, '*' where missed."""
    names = list(next(iter(table.values()))["operations"])
    print(f"\n{'candidate':<36}" + "".join(f"{name[:12]:>15}" for name in names)
          + f"{'met':>6}{'RSS':>7}")
    for text, row in table.items():
        cells = "".join(
            f"{row['operations'][n]['ratio']:>7.2f}/{row['operations'][n]['p99_ms']:>5.1f}"
            f"{' ' if row['operations'][n]['met'] else '*':>2}" for n in names)
        print(f"{text or 'production defaults':<36}{cells}{row['met']:>3}/{row['of']:<2}"
              f"{row['max_rss_mib']:>7.0f}")


if __name__ == "__main__":
    sys.exit(main())
