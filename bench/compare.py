"""``make bench-compare``: the service at another commit against this checkout, in one run.

A refactoring must not cost speed, and two benchmarks taken at different
times on a shared machine differ by more than a small regression. So both
versions are measured in the same run, alternately (before, after, before,
after, ...), on the same seeded database, each against the bare-Flask baseline
measured beside it; the table shows each version's median ratio and the
after/before quotient. The other commit is checked out in a git worktree
outside the repository (``BENCH_BEFORE_TREE``), and the database is seeded by
this checkout, so both versions must share its schema.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import run

ROOT = run.ROOT


def worktree(ref: str) -> Path:
    """A checkout of ``ref`` outside the repository (made once per commit)."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{ref}^{{commit}}"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout.strip()
    path = Path(tempfile.gettempdir()) / f"accountapps-bench-{sha[:12]}"
    if not (path / "wsgi.py").exists():
        subprocess.run(["git", "worktree", "add", "--detach", "--force", str(path), sha],
                       cwd=ROOT, check=True, capture_output=True)
    return path


def parse_args(argv: list[str] | None,
               ) -> tuple[argparse.Namespace, argparse.Namespace, int, str]:
    """This command's own options, ``bench.run``'s, and the size and database measured."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="HEAD~1", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=2, help="measurements of each version")
    return run.repeated(parser, argv)


def main(argv: list[str] | None = None) -> int:
    """Measure both versions alternately; print and save the comparison."""
    own, args, rows, url = parse_args(argv)
    run.RESULTS.mkdir(parents=True, exist_ok=True)
    trees = {"before": worktree(own.before), "after": ROOT}
    ratios: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    p99: dict[str, dict[str, list[float]]] = {"before": {}, "after": {}}
    for round_number in range(own.rounds):
        for version, tree in trees.items():
            args.service_tree = str(tree)
            print(f"round {round_number + 1}: {version} ({tree})", flush=True)
            result = run.bench_size(rows, args, url)
            for name, figures in result["operations"].items():
                ratios[version].setdefault(name, []).append(figures["ratio"])
                p99[version].setdefault(name, []).append(figures["p99_ms"])
    table = {}
    print(f"\n{'operation':<12} {'before':>8} {'after':>8} {'after/before':>13}"
          f" {'p99 before':>11} {'p99 after':>10}")
    for name in ratios["after"]:
        before = statistics.median(ratios["before"].get(name, [0.0]))
        after = statistics.median(ratios["after"][name])
        row = {"before": before, "after": after,
               "quotient": round(after / before, 3) if before else None,
               "p99_before_ms": statistics.median(p99["before"].get(name, [0.0])),
               "p99_after_ms": statistics.median(p99["after"][name]),
               "ratios": {version: ratios[version].get(name) for version in ratios}}
        table[name] = row
        print(f"{name:<12} {before:>8.3f} {after:>8.3f} {row['quotient'] or 0:>13.3f}"
              f" {row['p99_before_ms']:>11.1f} {row['p99_after_ms']:>10.1f}")
    report: dict[str, Any] = {
        "taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": run.machine(), "before": own.before, "rows": rows,
        "settings": {k: v for k, v in vars(args).items() if k != "check"},
        "operations": table}
    path = run.RESULTS / f"compare-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
