"""The multi-process proofs, long form: the scenarios of tests/test_proofs.py, larger.

    .venv/bin/python bench/proofs.py                      # SQLite (a temporary file)
    .venv/bin/python bench/proofs.py --database-url postgresql://user:pass@host/db
    .venv/bin/python bench/proofs.py --scale 3            # bigger still

Against PostgreSQL it works in a schema of its own, dropped at the end. Prints
one JSON line per proof and exits non-zero if any guarantee was broken.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import databases
import proof_scenarios as proofs
from live_server import RestartableServer as LiveServer

from accountapps import create_app
from accountapps.storage import db

API_KEY = "bench-proofs-api-key-0123456789"
SECRET = "bench-proofs-secret-that-is-long-enough-for-hs256"  # noqa: S105 (test only)
CREDS = proofs.Credentials(API_KEY, SECRET)


def report(name: str, ok: bool, **details: Any) -> bool:
    """Print one result line."""
    print(json.dumps({"proof": name, "ok": ok, **details}, default=lambda o: dict(o)
                     if isinstance(o, Counter) else str(o)), flush=True)
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="postgresql://... (default: SQLite)")
    parser.add_argument("--scale", type=int, default=1, help="multiply every size by this")
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args()
    scale = max(1, args.scale)

    tmp = Path(tempfile.mkdtemp(prefix="accountapps-proofs-"))
    pg = databases.PostgresSession(args.database_url) if args.database_url else None
    url = pg.url if pg else databases.sqlite_url(tmp, "proofs.db")
    empty_url = pg.empty_database_url() if pg else databases.sqlite_url(tmp, "empty.db")
    settings = {"ACCOUNTAPPS_DATABASE_URL": url, "ACCOUNTAPPS_API_KEYS": API_KEY,
                "ACCOUNTAPPS_JWT_SECRET": SECRET, "ACCOUNTAPPS_LOG_LEVEL": "WARNING"}
    app = create_app(settings)
    server = LiveServer(settings, workers=args.workers, threads=2, log_dir=tmp).start()
    results = []
    try:
        result = proofs.racing_patches(server, CREDS, clients=48 * scale)
        results.append(report("racing PATCH with one ETag", result["statuses"][200] == 1 and
                              set(result["statuses"]) <= {200, 412}, **result))

        outcomes = proofs.racing_transitions(server, CREDS, app, rounds=30 * scale)
        broken = [o for o in outcomes if sorted(o["statuses"].values()) != [200, 409, 409, 409]
                  or len(o["transitions"]) != 1]
        results.append(report("conflicting transitions", not broken,
                              rounds=len(outcomes), broken=broken))

        result = proofs.durability(server, CREDS, app, writers=8, kills=5 * scale,
                                   seconds_between=3.0)
        results.append(report(
            "durability under SIGKILL", not (result["lost_applications"] or
                                             result["lost_or_phantom_updates"] or
                                             result["half_written"]), **result))

        result = proofs.concurrent_expiry(settings, CREDS, server, app,
                                          applications=300 * scale, hosts=3)
        total = 300 * scale
        results.append(report(
            "concurrent expiry sweeps",
            result["states"] == {"expired": total}
            and result["expiry_records_per_application"] == {1: total},
            states=result["states"], records=result["expiry_records_per_application"],
            outputs=result["outputs"]))

        result = proofs.concurrent_upgrades({**settings, "ACCOUNTAPPS_DATABASE_URL": empty_url},
                                            processes=8)
        results.append(report(
            "concurrent db upgrade", set(result["exit_codes"]) == {0}
            and sum("applied:" in o for o in result["outputs"]) == 1,
            exit_codes=result["exit_codes"]))
    finally:
        server.stop()
        db.close_all()
        if pg:
            pg.close()
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
