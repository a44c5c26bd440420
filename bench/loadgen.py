"""The load generator: a separate process driving the service over loopback.

``python -m bench.loadgen SPEC.json`` runs the phases the spec lists, one after
the other, each for a bounded time with ``clients`` concurrent clients
(``procs`` processes x threads, so that the client's own Python does not cap
the figures at one core), each client a keep-alive ``http.client`` connection
(it reconnects when gunicorn's sync workers close it). It prints one JSON
object: for each phase the completed requests, errors, throughput and
p50/p99 latency in milliseconds, measured after a warm-up.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing
import queue
import random
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

BASE = "/accountApplications"
USER_SCOPES = "banking/read banking/write banking/delete"
ADMIN_SCOPES = "banking/full admin/full profiles/full"
PRODUCT_HREF = "https://www.example.com/products/products/51df9a81-2cb8-4515-aad1-9543b3c4fc18"
PAGE_QUERY = "limit=100&sortBy=-createdAt&state=" + quote("approved|canceled|rejected|expired")
ADMIN_PAGE_QUERY = "limit=100&sortBy=-createdAt&filter=" + quote("eq(state,blocked)")


def create_body(index: int) -> dict[str, Any]:
    """A create body like the reference's example, with a funding account."""
    return {
        "accountName": f"Bench account {index}",
        "_links": {"apiture:product": {"href": PRODUCT_HREF}},
        "fundingAmount": {"value": "1500.00", "currency": "USD"},
        "fundingAccount": {"title": "Elsa Snowqueen", "institutionName": "3rd Party Bank",
                           "routingNumber": "021000021",
                           "accountNumbers": {"full": "9876543210"}},
        "applicants": [{"username": "Snowqueen123", "contact": {
            "firstName": "Elsa", "lastName": "Snowqueen",
            "_links": {"self": {"href": f"https://www.example.com/users/user/bench-{index}"}}},
            "role": {"name": "primaryUser", "label": "Primary User"}}],
    }


class Client:
    """One keep-alive connection; reconnects after the server closes it."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=30)

    def call(self, method: str, path: str, headers: dict[str, str],
             body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                response = self.conn.getresponse()
                data = response.read()
                return response.status, {k.lower(): v for k, v in response.getheaders()}, data
            except (http.client.RemoteDisconnected, ConnectionError, http.client.BadStatusLine):
                # A closed keep-alive connection: reconnect once (same request, not counted).
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


class Session:
    """Tokens and per-client state of one load-generating process (kept across phases)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        from accountapps.auth.security import mint_token

        self.spec = spec
        self.mint = lambda sub, scopes: mint_token(sub, scopes, secret=spec["secret"],
                                                   expires_in=3600)
        self.tokens: dict[str, str] = {}
        self.created: dict[int, list[tuple[str, str]]] = {}  # client -> (user, id)
        self.etags: dict[str, str] = {}
        # (phase kind, client) -> numbers of new users: a phase run in several
        # slices never makes the same user twice
        self.numbers: dict[tuple[str, int], Any] = {}

    def headers(self, user: str, scopes: str = USER_SCOPES, **extra: str) -> dict[str, str]:
        token = self.tokens.get(user)
        if token is None:
            token = self.tokens[user] = self.mint(user, scopes)
        return {"API-Key": self.spec["api_key"], "Authorization": f"Bearer {token}",
                "Accept": "application/hal+json", **extra}


Op = Callable[[Client], tuple[int, int, bytes]]  # -> (status, expected status, body)


def make_op(kind: str, session: Session, client_index: int, path: str = "/bytes") -> Op | None:
    """The request loop body of a phase for one client (``None``: nothing left to do).

    ``path``: the baseline's endpoint (``/bytes`` or ``/jsonify``), for a baseline phase.
    """
    spec = session.spec
    rng = random.Random(client_index)
    readers = sorted(spec.get("readers", {}).items())
    reader, ids = readers[client_index % len(readers)] if readers else ("", [])
    if kind == "baseline":
        def baseline(c: Client) -> tuple[int, int, bytes]:
            # The same request headers as the service gets, so only the server differs.
            status, _, body = c.call("GET", path, session.headers(reader))
            return status, 200, body
        return baseline
    if kind == "get_one":
        def get_one(c: Client) -> tuple[int, int, bytes]:
            status, _, body = c.call("GET", f"{BASE}/applications/{rng.choice(ids)}",
                                     session.headers(reader))
            return status, 200, body
        return get_one
    if kind == "get_304":
        def get_304(c: Client) -> tuple[int, int, bytes]:
            target = rng.choice(ids[:20])
            tag = session.etags.get(target)
            if tag is None:
                _, headers, _ = c.call("GET", f"{BASE}/applications/{target}",
                                       session.headers(reader))
                tag = session.etags[target] = headers["etag"]
            status, _, body = c.call("GET", f"{BASE}/applications/{target}",
                                     session.headers(reader, **{"If-None-Match": tag}))
            return status, 304, body
        return get_304
    if kind == "record":
        def record(c: Client) -> tuple[int, int, bytes]:
            status, _, body = c.call("GET", f"{BASE}/applications/{rng.choice(ids)}/record",
                                     session.headers(reader))
            return status, 200, body
        return record
    if kind in ("page", "page_admin"):
        user, scopes, query = (reader, USER_SCOPES, PAGE_QUERY) if kind == "page" else (
            "bench-admin", ADMIN_SCOPES, ADMIN_PAGE_QUERY)

        def page(c: Client) -> tuple[int, int, bytes]:
            status, _, body = c.call("GET", f"{BASE}/applications?{query}",
                                     session.headers(user, scopes))
            return status, 200, body
        return page
    if kind in ("create", "create_idempotent"):
        # create_idempotent: the same, each request with an Idempotency-Key of its own.
        keyed = kind == "create_idempotent"
        counter = session.numbers.setdefault((kind, client_index), iter(range(10**9)))
        mine = session.created.setdefault(client_index, [])
        # Each create is by a new user. Their tokens are minted here, before the
        # timed phase: a real client gets its token from an identity provider,
        # so minting is not the service's cost, yet on a shared machine it would
        # take CPU from the service under test. More are minted if these run out.
        enough = int(150 * (spec["warmup"] + spec["seconds"])) + 50  # ~100 creates/s each
        prefix = f"bench-new{'-keyed' if keyed else ''}-{spec['run']}-{client_index}"
        users = [f"{prefix}-{next(counter)}" for _ in range(enough)]
        for user in users:
            session.headers(user)
        pending = iter(users)
        body = json.dumps(create_body(client_index)).encode()

        def create(c: Client) -> tuple[int, int, bytes]:
            user = next(pending, None) or f"{prefix}-{next(counter)}"
            headers = session.headers(user, **{"Content-Type": "application/json"})
            if keyed:
                headers["Idempotency-Key"] = f"{user}-create"
            status, response_headers, response_body = c.call(
                "POST", f"{BASE}/applications", headers, body)
            if status == 201:
                mine.append((user, response_headers["location"].rsplit("/", 1)[1]))
            return status, 201, response_body
        return create
    if kind == "patch":
        targets = sorted(spec["patch_targets"].items())
        user, target = targets[client_index % len(targets)]
        counter = iter(range(10**9))

        def patch(c: Client) -> tuple[int, int, bytes]:
            tag = session.etags.get(target)
            if tag is None:
                _, headers, _ = c.call("GET", f"{BASE}/applications/{target}",
                                       session.headers(user))
                tag = headers["etag"]
            status, headers, body = c.call(
                "PATCH", f"{BASE}/applications/{target}",
                session.headers(user, **{"Content-Type": "application/json", "If-Match": tag}),
                json.dumps({"accountName": f"Renamed {next(counter)}"}).encode())
            if status == 200:
                session.etags[target] = headers["etag"]
            return status, 200, body
        return patch
    if kind == "cancel":
        mine = session.created.get(client_index, [])

        def cancel(c: Client) -> tuple[int, int, bytes]:
            if not mine:
                raise StopIteration
            user, target = mine.pop()
            status, _, body = c.call(
                "POST", f"{BASE}/canceledApplications?application={target}",
                session.headers(user))
            return status, 200, body
        return cancel
    if kind == "hostile":
        requests = hostile_requests(session, reader)
        turn = iter(range(10**9))

        def hostile(c: Client) -> tuple[int, int, bytes]:
            method, target, headers, payload = requests[(next(turn) + client_index)
                                                        % len(requests)]
            status, _, body = c.call(method, target, headers, payload)
            # Any refusal is right here; a 5xx (or no answer) is an error of the run.
            return status, status if 400 <= status < 500 else 400, body
        return hostile
    raise ValueError(f"unknown phase kind {kind!r}")


def hostile_requests(session: Session, user: str) -> list[tuple[str, str, dict[str, str], bytes]]:
    """Requests an attacker or a broken client sends: each must be refused, cheaply,
    and leave nothing behind in the worker's memory."""
    json_headers = session.headers(user, **{"Content-Type": "application/json"})
    create = f"{BASE}/applications"
    valid = create_body(0)
    return [
        ("POST", create, json_headers, b'{"accountName": "unterminated'),
        ("POST", create, json_headers, b"[" * 100_000 + b"]" * 100_000),
        ("POST", create, json_headers, json.dumps(
            {**valid, "applicants": [valid["applicants"][0]] * 500}).encode()),
        ("POST", create, json_headers, json.dumps(
            {**valid, "accountName": "x" * 200_000}).encode()),
        ("POST", create, json_headers, json.dumps(
            {**valid, **{f"unknown{i}": i for i in range(5_000)}}).encode()),
        ("POST", create, json_headers, b"0" * 300_000),
        ("POST", create, session.headers(user, **{"Content-Type": "text/xml"}), b"<a/>" * 1000),
        ("GET", f"{BASE}/applications?limit=100000&sortBy=" + "x" * 4000, json_headers, b""),
        ("GET", f"{BASE}/applications/{'9' * 4000}", json_headers, b""),
        ("GET", f"{BASE}/applications", {**json_headers, "Authorization": "Bearer "
                                         + "e30." * 1000}, b""),
    ]


def run_client(op: Op, client: Client, warmup_until: float, stop_at: float,
               out: dict[str, Any]) -> None:
    latencies: list[float] = []
    errors = 0
    first_error = None
    measured_from = None
    try:
        while True:
            before = time.perf_counter()
            if before >= stop_at:
                break
            try:
                status, expected, body = op(client)
            except (OSError, http.client.HTTPException, KeyError, ValueError) as exc:
                # A failed request is an error of the run, never a dead client.
                status, expected, body = -1, 0, repr(exc).encode()
                client.conn.close()
            after = time.perf_counter()
            if after < warmup_until:
                continue
            measured_from = measured_from or before
            if status != expected:
                errors += 1
                first_error = first_error or f"{status}: {body[:300]!r}"
            latencies.append(after - before)
    except StopIteration:  # the phase ran out of work (cancel: nothing left to cancel)
        pass
    out.update(latencies=latencies, errors=errors, first_error=first_error,
               ended=time.perf_counter())


def client_indexes(clients: int, procs: int, proc: int) -> list[int]:
    """The clients process ``proc`` of ``procs`` runs, of ``clients`` numbered from 0
    (none when there are fewer clients than processes and ``proc`` is one too many)."""
    share, rest = divmod(clients, procs)
    first = proc * share + min(proc, rest)
    return list(range(first, first + share + (1 if proc < rest else 0)))


def run_process(spec: dict[str, Any], proc: int, barrier: Any, results: Any) -> None:
    """One load-generating process: its share of the clients, phase after phase."""
    session = Session(spec)
    connections: dict[tuple[int, int], Client] = {}
    for phase in spec["phases"]:
        # A phase may run with fewer clients (one measuring a single request's time),
        # fewer than the processes even: then some processes send nothing.
        indexes = client_indexes(phase.get("clients", spec["clients"]), spec["procs"], proc)
        port = phase.get("port", spec["port"])
        clients = {i: connections.setdefault((i, port), Client(spec["host"], port))
                   for i in indexes}
        ops = {i: make_op(phase["kind"], session, i, phase.get("path", "/bytes"))
               for i in indexes}
        barrier.wait(timeout=120)
        start = time.perf_counter()
        warmup_until = start + phase.get("warmup", spec["warmup"])
        stop_at = warmup_until + phase.get("seconds", spec["seconds"])
        outs: dict[int, dict[str, Any]] = {i: {} for i in indexes}
        threads = [threading.Thread(target=run_client,
                                    args=(ops[i], clients[i], warmup_until, stop_at, outs[i]))
                   for i in indexes]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        ended = max((out["ended"] for out in outs.values()), default=warmup_until)
        latencies = [x for out in outs.values() for x in out["latencies"]]
        results.put({"phase": phase["name"], "slice": phase.get("slice", 0), "proc": proc,
                     "latencies": latencies,
                     "errors": sum(out["errors"] for out in outs.values()),
                     "first_error": next((o["first_error"] for o in outs.values()
                                          if o["first_error"]), None),
                     "elapsed": ended - warmup_until,
                     # perf_counter is CLOCK_MONOTONIC: bench.cpu compares it across processes
                     "window": [warmup_until, ended]})


def percentile(sorted_values: list[float], fraction: float) -> float:
    """The nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def summarize(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Merge the processes' measurements of one phase (of each of its slices, if it
    ran in several: ``windows`` has each slice's time window and request count)."""
    slices: dict[int, list[dict[str, Any]]] = {}
    for part in parts:
        slices.setdefault(part.get("slice", 0), []).append(part)
    windows, throughputs = [], []
    for _number, pieces in sorted(slices.items()):
        count = sum(len(piece["latencies"]) for piece in pieces)
        elapsed = max(piece["elapsed"] for piece in pieces)
        windows.append([min(piece["window"][0] for piece in pieces),
                        max(piece["window"][1] for piece in pieces), count])
        throughputs.append(round(count / elapsed, 1) if elapsed > 0 else 0.0)
    latencies = sorted(x for part in parts for x in part["latencies"])
    elapsed = sum(max(piece["elapsed"] for piece in pieces) for pieces in slices.values())
    return {
        "requests": len(latencies),
        "errors": sum(part["errors"] for part in parts),
        "first_error": next((p["first_error"] for p in parts if p["first_error"]), None),
        "seconds": round(elapsed, 3),
        "throughput": round(len(latencies) / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 2),
        "windows": windows,
        "slice_throughputs": throughputs,
    }


def run(spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Run every phase of ``spec``; return the summary of each, by phase name."""
    procs = spec["procs"]
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(procs)
    results = context.Queue()
    workers = [context.Process(target=run_process, args=(spec, p, barrier, results))
               for p in range(procs)]
    for worker in workers:
        worker.start()
    collected: dict[str, list[dict[str, Any]]] = {}
    budget = sum(phase.get("warmup", spec["warmup"]) + phase.get("seconds", spec["seconds"])
                 for phase in spec["phases"]) + 120
    deadline = time.monotonic() + budget
    received = 0
    while received < procs * len(spec["phases"]):
        try:
            part = results.get(timeout=1)
        except queue.Empty:
            if time.monotonic() > deadline or not all(w.is_alive() for w in workers):
                for worker in workers:
                    worker.terminate()
                raise RuntimeError("a load-generating process died or hung") from None
            continue
        received += 1
        collected.setdefault(part["phase"], []).append(part)
    for worker in workers:
        worker.join()
    return {phase["name"]: summarize(collected[phase["name"]]) for phase in spec["phases"]}


def main() -> None:
    """``python -m bench.loadgen SPEC.json``: print the phases' summaries as JSON."""
    with open(sys.argv[1]) as handle:
        spec = json.load(handle)
    json.dump(run(spec), sys.stdout)


if __name__ == "__main__":
    main()
