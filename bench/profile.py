"""Profile one operation in-process with pyinstrument (profile before optimizing).

``python -m bench.profile --rows 10000 --op get_one`` seeds (or reuses) the
benchmark database, then sends ``--requests`` requests of the operation
through the WSGI app (no gunicorn, no sockets: only our per-request cost) and
prints pyinstrument's report (pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import time
from collections.abc import Callable
from urllib.parse import quote

from bench.loadgen import ADMIN_PAGE_QUERY, ADMIN_SCOPES, PAGE_QUERY, USER_SCOPES, create_body
from bench.run import API_KEY, database_url, seeded

SECRET = secrets.token_urlsafe(32)
#: The operations it can send, as ``make bench`` names them.
OPERATIONS = ("get_one", "get_304", "record", "page", "page_admin", "create",
              "create_idempotent", "patch", "cancel")


def main() -> None:
    """Profile ``--op`` and print the report."""
    from accountapps import create_app
    from accountapps.auth.security import mint_token

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--op", default="get_one", choices=OPERATIONS)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--html", help="also write an HTML report here")
    parser.add_argument("--time", action="store_true",
                        help="only time the requests (no profiler overhead)")
    parser.add_argument("--cold", action="store_true",
                        help="as --time, with the processor's caches evicted before each "
                             "request (as a worker's requests find them)")
    parser.add_argument("--setup-only", action="store_true",
                        help="prepare the requests (cancel: create what they cancel), send none")
    parser.add_argument("--without-events", action="store_true",
                        help="changes record no event (bench/without_events.py): what "
                             "recording costs is the difference")
    parser.add_argument("--database-url",
                        help="the database to seed and use (a PostgreSQL database's tables "
                             "are dropped!); default: the SQLite file under bench/results")
    args = parser.parse_args()
    if args.without_events:
        from bench.without_events import disable_events
        disable_events()
    url = database_url(args.database_url, args.rows)
    info = seeded(url, args.rows, reuse=True)
    app = create_app({"ACCOUNTAPPS_DATABASE_URL": url, "ACCOUNTAPPS_API_KEYS": API_KEY,
                      "ACCOUNTAPPS_JWT_SECRET": SECRET, "ACCOUNTAPPS_LOG_LEVEL": "WARNING",
                      # as in the benchmark: the limiter runs but never refuses
                      "ACCOUNTAPPS_RATE_LIMIT": "100000000/minute",
                      "ACCOUNTAPPS_LINK_HOSTS": "www.example.com"})
    client = app.test_client()
    reader, ids = sorted(info["readers"].items())[0]

    def headers(user: str, scopes: str = USER_SCOPES, **extra: str) -> dict[str, str]:
        return {"API-Key": API_KEY,
                "Authorization": f"Bearer {mint_token(user, scopes, secret=SECRET)}", **extra}

    reader_headers = headers(reader)
    base = "/accountApplications"
    rng = random.Random(1)
    tag = client.get(f"{base}/applications/{ids[1]}", headers=reader_headers).headers["ETag"]
    patch_user, patch_id = sorted(info["patch_targets"].items())[0]
    patch_headers = headers(patch_user)
    patch_tag = [client.get(f"{base}/applications/{patch_id}", headers=patch_headers
                            ).headers["ETag"]]
    created: list[tuple[dict, str]] = []
    run = secrets.randbits(32)  # new users each invocation (one active application per user)
    if args.op == "cancel":
        for index in range(args.requests):
            h = headers(f"profile-{run}-{index}")
            response = client.post(f"{base}/applications", json=create_body(index), headers=h)
            created.append((h, response.json["_id"]))
    admin_headers = headers("bench-admin", ADMIN_SCOPES)

    def one(index: int) -> int:
        if args.op == "get_one":
            return client.get(f"{base}/applications/{rng.choice(ids)}",
                              headers=reader_headers).status_code
        if args.op == "record":
            return client.get(f"{base}/applications/{rng.choice(ids)}/record",
                              headers=reader_headers).status_code
        if args.op == "get_304":
            return client.get(f"{base}/applications/{ids[1]}",
                              headers={**reader_headers, "If-None-Match": tag}).status_code
        if args.op == "page":
            return client.get(f"{base}/applications?{PAGE_QUERY}",
                              headers=reader_headers).status_code
        if args.op == "page_admin":
            return client.get(f"{base}/applications?{ADMIN_PAGE_QUERY}",
                              headers=admin_headers).status_code
        if args.op in ("create", "create_idempotent"):
            user = f"profile-{run}-{index}"
            keyed = {"Idempotency-Key": f"{user}-create"} if args.op != "create" else {}
            return client.post(f"{base}/applications", json=create_body(index),
                               headers={**headers(user), **keyed}).status_code
        if args.op == "patch":
            response = client.patch(f"{base}/applications/{patch_id}",
                                    data=json.dumps({"accountName": f"P {index}"}),
                                    content_type="application/json",
                                    headers={**patch_headers, "If-Match": patch_tag[0]})
            patch_tag[0] = response.headers.get("ETag", patch_tag[0])
            return response.status_code
        h, target = created[index]
        return client.post(f"{base}/canceledApplications?application={quote(target)}",
                           headers=h).status_code

    if args.setup_only:
        return
    statuses: dict[int, int] = {}
    profiler = None
    if not (args.time or args.cold):  # the bench extra's (pip install -e '.[bench]')
        from pyinstrument import Profiler
        profiler = Profiler(interval=0.0005)
    if args.cold:
        elapsed, cpu = cold_run(one, args.requests, statuses)
    else:
        started, cpu_started = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.start()
        for index in range(args.requests):
            status = one(index)
            statuses[status] = statuses.get(status, 0) + 1
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started  # robust to other load on the machine
    print(f"statuses: {statuses}; per request: {elapsed / args.requests * 1e6:.0f} us, "
          f"{cpu / args.requests * 1e6:.0f} us CPU")
    if profiler is None:
        return
    profiler.stop()
    print(profiler.output_text(unicode=False, color=False,
                               show_all=bool(os.environ.get("PROFILE_ALL"))))
    if args.html:
        with open(args.html, "w") as handle:
            handle.write(profiler.output_html())


#: More than the processor's last-level cache (32 MiB on the machines measured).
COLD_SWEEP_BYTES = 64 * 1024 * 1024


def cold_run(one: Callable[[int], int], requests: int,
             statuses: dict[int, int]) -> tuple[float, float]:
    """Send ``requests`` with every cache line written over before each one; the
    seconds and CPU seconds of the requests alone."""
    sweep = bytearray(COLD_SWEEP_BYTES)
    ones = b"\x01" * (COLD_SWEEP_BYTES // 64)
    elapsed = cpu = 0.0
    for index in range(requests):
        sweep[::64] = ones  # one byte of every 64-byte line
        started, cpu_started = time.perf_counter(), time.process_time()
        status = one(index)
        elapsed += time.perf_counter() - started
        cpu += time.process_time() - cpu_started
        statuses[status] = statuses.get(status, 0) + 1
    return elapsed, cpu


if __name__ == "__main__":
    main()
