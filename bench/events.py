"""The events' speed (issue 23): what recording costs a write, and how fast webhooks go out.

:func:`measure` runs after the benchmark's operations, on the same seeded
database, and takes three figures:

1. **Recording's cost.** The service (``wsgi:app``) and the same service with
   its events not recorded (:mod:`bench.without_events`, a measurement device)
   run side by side under the same gunicorn settings; create, ``PATCH`` and
   cancel are measured against each **alternately**, in slices, so a change in
   a shared machine's load falls on both. For each operation: the time per
   request with events over without (the median of the slices' throughput
   quotients) and the same for the service's CPU per request. Target ≤ 1.10.
2. **Commit to delivery.** A receiver on loopback (in this process; it answers
   ``204`` and records when each ``webhook-id`` arrived, verifying nothing)
   is subscribed to every event, and the real dispatcher (``flask events
   deliver``, as run in production) runs while the write operations are
   driven again; each delivery's arrival minus its event's ``timestamp`` (the
   time taken just before the change's transaction, so a few milliseconds
   more than from the commit) gives p50/p99. Target: p99 < 1 s.
3. **Dispatcher throughput.** :data:`DISPATCH_EVENTS` events of distinct
   resources are written for that subscription and one dispatcher delivers
   them (``events deliver --once``, timed from its start to its exit, in a
   process of its own: ``python -m bench.events dispatch``). Target ≥ 500
   events/s.

``bench.run`` calls :func:`measure` and :func:`print_table`, and counts
:func:`missed` with ``--check``.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.cpu import CpuSampler
from bench.loadgen import percentile
from bench.run import (
    API_KEY,
    MIN_SLICE_SECONDS,
    RESULTS,
    ROOT,
    cpu_per_request,
    free_port,
    gunicorn,
    seeded,
    wait_ready,
)

#: The writes whose cost recording the event adds to.
OPERATIONS = ("create", "patch", "cancel")
#: Recording an event adds at most this much to a write's time (and CPU) per request.
COST_LIMIT = 1.10
#: One dispatcher delivers at least this many events per second to a local receiver.
THROUGHPUT_TARGET = 500.0
#: Commit to delivery, under the write load: p99 below this (seconds).
LATENCY_P99_LIMIT = 1.0
#: Events the dispatcher throughput is measured with.
DISPATCH_EVENTS = 5000
#: Each operation runs in up to this many slices per version, alternately.
SLICES = 4
#: Cancels consume what the creates made; they run this share of a create's time,
#: so they do not run out (a cancel is faster than a create).
CANCEL_SHARE = 0.6
#: How the benchmark's subscriptions are told from others (a rerun replaces them).
DESCRIPTION = "bench.events"


def wanted(args: argparse.Namespace) -> bool:
    """True when this run measures the events (by default, or ``--only ... events``)."""
    return not args.only or "events" in args.only


# --- the receiver ---------------------------------------------------------------

class Receiver:
    """A webhook receiver on loopback that records each delivery's arrival and answers 204.

    It verifies no signature (the tests do): it must never be what limits the
    dispatcher. Keep-alive (HTTP/1.1), one thread per connection.
    """

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str, bytes]] = []  # (time.time(), webhook-id, body)
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                arrivals.append((time.time(), self.headers.get("webhook-id", ""), body))
                self.send_response_only(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def first_arrivals(self, since: int = 0) -> dict[str, tuple[float, bytes]]:
        """Each ``webhook-id``'s first arrival (from the ``since``-th delivery on)."""
        found: dict[str, tuple[float, bytes]] = {}
        for at, message_id, body in self.arrivals[since:]:
            found.setdefault(message_id, (at, body))
        return found

    def wait_quiet(self, quiet: float = 2.0, timeout: float = 120.0) -> None:
        """Wait until nothing has arrived for ``quiet`` seconds (or ``timeout``)."""
        deadline = time.monotonic() + timeout
        seen, since = len(self.arrivals), time.monotonic()
        while time.monotonic() < deadline and time.monotonic() - since < quiet:
            time.sleep(0.2)
            if len(self.arrivals) != seen:
                seen, since = len(self.arrivals), time.monotonic()


# --- processes ------------------------------------------------------------------

def service_env(url: str, secret: str, args: argparse.Namespace) -> dict[str, str]:
    """The environment the service runs with in ``bench.run`` (and the dispatcher too)."""
    return {"ACCOUNTAPPS_DATABASE_URL": url, "ACCOUNTAPPS_API_KEYS": API_KEY,
            "ACCOUNTAPPS_JWT_SECRET": secret, "ACCOUNTAPPS_LOG_LEVEL": args.log_level,
            "ACCOUNTAPPS_AUTO_MIGRATE": "1", "PYTHONPATH": str(ROOT),
            "ACCOUNTAPPS_RATE_LIMIT": "100000000/minute",
            "ACCOUNTAPPS_LINK_HOSTS": "www.example.com",
            # the receiver is on loopback, over http
            "ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE": "1"}


def helper(command: list[str], env: dict[str, str]) -> dict[str, Any]:
    """Run ``python -m bench.events COMMAND`` (it holds the database, not this process)."""
    out = subprocess.run([sys.executable, "-m", "bench.events", *command], cwd=ROOT,
                         env={**os.environ, **env}, check=True, capture_output=True,
                         text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


@contextmanager
def dispatcher(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen]:
    """The dispatcher as run in production (``flask events deliver``) for the block."""
    with open(log, "ab") as handle:
        process = subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "events",
                                    "deliver"], cwd=ROOT, env={**os.environ, **env},
                                   stdout=handle, stderr=handle)
    try:
        yield process
    finally:
        process.terminate()  # SIGTERM: it ends after the round in flight
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def loadgen(spec: dict[str, Any], cpu: CpuSampler | None = None) -> dict[str, Any]:
    """Run the load generator on ``spec`` (sampling the CPU meanwhile, if given)."""
    path = RESULTS / "loadgen-events-spec.json"
    path.write_text(json.dumps(spec))
    process = subprocess.Popen([sys.executable, "-m", "bench.loadgen", str(path)], cwd=ROOT,
                               stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    if cpu is not None:
        cpu.watch("loadgen", process.pid)
        cpu.start()
    out, _ = process.communicate()
    if cpu is not None:
        cpu.stop()
    if process.returncode:
        raise RuntimeError(f"the load generator failed ({process.returncode})")
    return json.loads(out)


# --- 1. recording's cost ----------------------------------------------------------

def alternating(seconds: float, ports: dict[str, int], warmup: float) -> list[dict[str, Any]]:
    """The phases: each operation, with and without events, alternately in slices."""
    count = max(1, min(SLICES, int(seconds // MIN_SLICE_SECONDS)))
    phases = []
    for operation in OPERATIONS:
        share = CANCEL_SHARE if operation == "cancel" else 1.0
        for number in range(count):
            for version, port in ports.items():
                # Only the first slice of each warms up; cancels none (they use up creates).
                first = warmup if number == 0 and operation != "cancel" else 0.1
                phases.append({"name": f"{operation}:{version}", "kind": operation,
                               "port": port, "slice": number, "warmup": first,
                               "seconds": seconds * share / count})
    return phases


def cost(measured: dict[str, Any]) -> dict[str, Any]:
    """Each operation's time and service CPU per request, with events over without."""
    figures: dict[str, Any] = {}
    for operation in OPERATIONS:
        with_, without = measured[f"{operation}:with"], measured[f"{operation}:without"]
        quotients = [plain / recorded for recorded, plain in zip(
            with_["slice_throughputs"], without["slice_throughputs"], strict=False) if recorded]
        time_ratio = statistics.median(quotients) if quotients else float("nan")
        cpu = [(f.get("cpu_ms_per_request") or {}).get("server") for f in (with_, without)]
        cpu_ratio = cpu[0] / cpu[1] if all(cpu) else None
        figures[operation] = {
            "time_per_request": round(time_ratio, 3), "slices": [round(q, 3) for q in quotients],
            "server_cpu_per_request": round(cpu_ratio, 3) if cpu_ratio else None,
            "cpu_ms_per_request": {"with": with_.get("cpu_ms_per_request"),
                                   "without": without.get("cpu_ms_per_request")},
            "throughput_with": with_["throughput"], "throughput_without": without["throughput"],
            "p99_ms_with": with_["p99_ms"], "p99_ms_without": without["p99_ms"],
            "errors": with_["errors"] + without["errors"],
            "first_error": with_["first_error"] or without["first_error"],
            "limit": COST_LIMIT,
            "ok": bool(time_ratio <= COST_LIMIT and with_["errors"] + without["errors"] == 0),
        }
    return figures


# --- 2. commit to delivery ------------------------------------------------------

def latencies(arrivals: dict[str, tuple[float, bytes]]) -> list[float]:
    """Each delivery's arrival minus its event's ``timestamp`` (seconds), sorted."""
    found = []
    for at, body in arrivals.values():
        occurred = datetime.fromisoformat(json.loads(body)["timestamp"]).timestamp()
        found.append(at - occurred)
    return sorted(found)


def delivery_latency(arrivals: dict[str, tuple[float, bytes]],
                     writes: dict[str, Any]) -> dict[str, Any]:
    """p50/p99 from commit to delivery of the events the writes made."""
    measured = latencies(arrivals)
    p99 = percentile(measured, 0.99) if measured else float("nan")
    return {"events": len(measured),
            "writes": sum(f["requests"] for f in writes.values()),
            "errors": sum(f["errors"] for f in writes.values()),
            "p50_s": round(percentile(measured, 0.50), 4) if measured else None,
            "p99_s": round(p99, 4) if measured else None,
            "max_s": round(measured[-1], 4) if measured else None,
            "limit_s": LATENCY_P99_LIMIT, "ok": bool(measured and p99 < LATENCY_P99_LIMIT)}


# --- the whole measurement ------------------------------------------------------

def measure(rows: int, args: argparse.Namespace, url: str,
            dispatch_events: int = DISPATCH_EVENTS) -> dict[str, Any]:
    """Recording's cost, commit-to-delivery latency and dispatcher throughput (see above)."""
    info = seeded(url, rows, reuse=True)  # as bench.run left it
    secret = secrets.token_urlsafe(32)
    env = service_env(url, secret, args)
    log = RESULTS / "gunicorn-events.log"
    log.write_bytes(b"")
    ports = {"with": free_port(), "without": free_port()}
    spec = {"host": "127.0.0.1", "port": ports["with"], "clients": args.clients,
            "procs": args.procs, "seconds": args.seconds, "warmup": args.warmup,
            "api_key": API_KEY, "secret": secret, "readers": info["readers"],
            "patch_targets": info["patch_targets"]}
    with gunicorn("wsgi:app", ports["with"], env, args, log) as service, \
            gunicorn("bench.without_events:app", ports["without"], env, args, log) as plain:
        for port in ports.values():
            wait_ready(port, "/accountApplications/", {"API-Key": API_KEY})
        print("events: recording's cost (with and without, alternately) ...", flush=True)
        cpu = CpuSampler()
        cpu.watch("server", service.pid)
        cpu.watch("server", plain.pid)
        measured = loadgen({**spec, "run": secrets.token_hex(4),
                            "phases": alternating(args.seconds, ports, args.warmup)}, cpu)
        for figures in measured.values():
            figures["cpu_ms_per_request"] = cpu_per_request(cpu, figures.pop("windows"))
        recording = cost(measured)

        with Receiver() as receiver:
            subscription = helper(["subscribe", "--url", url, "--receiver", receiver.url], env)
            print("events: commit to delivery under the writes ...", flush=True)
            with dispatcher(env, log):
                time.sleep(1.0)  # it starts and finds nothing owed
                start = len(receiver.arrivals)
                writes = loadgen({**spec, "run": secrets.token_hex(4), "phases": [
                    {"name": operation, "kind": operation,
                     **({"warmup": 0.05, "seconds": args.seconds * CANCEL_SHARE}
                        if operation == "cancel" else {})}
                    for operation in OPERATIONS]})
                receiver.wait_quiet()
            latency = delivery_latency(receiver.first_arrivals(start), writes)
            print(f"events: one dispatcher, {dispatch_events} events ...", flush=True)
            start = len(receiver.arrivals)
            ran = helper(["dispatch", "--url", url, "--events", str(dispatch_events)], env)
            seeded_ids = set(ran.pop("ids"))
            delivered = sum(1 for message_id in receiver.first_arrivals(start)
                            if message_id in seeded_ids)
    rate = delivered / ran["seconds"] if ran["seconds"] else 0.0
    throughput = {"events": dispatch_events, "delivered": delivered, **ran,
                  "events_per_second": round(rate, 1), "target": THROUGHPUT_TARGET,
                  "ok": bool(delivered == dispatch_events and rate >= THROUGHPUT_TARGET)}
    return {"recording": recording, "latency": latency, "throughput": throughput,
            "subscription": subscription["id"]}


def print_table(figures: dict[str, Any]) -> None:
    """The three results with their targets."""
    print(f"\n{'events (issue 23)':<52} {'measured':>10} {'target':>9}  ok")
    for operation, row in figures["recording"].items():
        cpu = row["server_cpu_per_request"]
        label = (f"recording's cost: {operation}, time per request"
                 + (f" (CPU {cpu:.2f} x)" if cpu else ""))
        print(f"{label:<52} {row['time_per_request']:>9.3f}x {'≤ ' + str(row['limit']):>9}"
              f"  {'yes' if row['ok'] else 'NO'}")
        if row["first_error"]:
            print(f"    first error: {row['first_error']}")
    latency = figures["latency"]
    shown = "-" if latency["p99_s"] is None else f"{latency['p99_s'] * 1000:.0f} ms"
    print(f"{'commit to delivery, p99 (p50 ' + _ms(latency['p50_s']) + ')':<52} {shown:>10} "
          f"{'< ' + _ms(latency['limit_s']):>9}  {'yes' if latency['ok'] else 'NO'}")
    rate = figures["throughput"]
    print(f"{'one dispatcher, events/s (' + str(rate['delivered']) + ' delivered)':<52} "
          f"{rate['events_per_second']:>10.0f} {'≥ ' + str(int(rate['target'])):>9}"
          f"  {'yes' if rate['ok'] else 'NO'}")


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def missed(figures: dict[str, Any] | None, rows: int) -> list[str]:
    """The names of the targets ``figures`` missed (for ``--check``)."""
    if not figures:
        return []
    names = [f"{rows}:events_cost_{operation}"
             for operation, row in figures["recording"].items() if not row["ok"]]
    if not figures["latency"]["ok"]:
        names.append(f"{rows}:events_latency")
    if not figures["throughput"]["ok"]:
        names.append(f"{rows}:events_throughput")
    return names


# --- helpers run in a process of their own (they hold the database) ----------------

def _app() -> Any:
    """The service's app as configured by the environment (as ``wsgi`` builds it)."""
    from accountapps import create_app

    return create_app()


def subscribe(receiver_url: str) -> dict[str, Any]:
    """Subscribe ``receiver_url`` to every event (replacing the benchmark's earlier
    subscriptions), and fan out what happened before it, which it does not receive:
    the dispatcher then starts with nothing owed."""
    from accountapps.auth.principal import Principal
    from accountapps.domain import dispatch, webhooks
    from accountapps.storage import event_log
    from accountapps.storage.db import database, write_transaction
    from accountapps.storage.models import WebhookDelivery, WebhookSubscription

    app = _app()
    with app.app_context(), database.connection_context():
        earlier = [row.id for row in WebhookSubscription.select(WebhookSubscription.id).where(
            WebhookSubscription.description == DESCRIPTION)]
        with write_transaction():
            WebhookDelivery.delete().where(WebhookDelivery.subscription_id.in_(earlier)).execute()
            WebhookSubscription.delete().where(WebhookSubscription.id.in_(earlier)).execute()
        row, _secret = webhooks.create(
            Principal("bench", frozenset({"admin/full"}), "bench"),
            {"url": receiver_url, "events": ["*"], "description": DESCRIPTION})
        while event_log.read_after(event_log.fanout_position(lock=False) or event_log.START, 1):
            dispatch.fan_out(5000)
    return {"id": row.id}


def dispatch_timed(count: int) -> dict[str, Any]:
    """Write ``count`` events of distinct resources, then time ``events deliver --once``."""
    from accountapps.domain.ids import new_id
    from accountapps.storage.db import database, write_transaction
    from accountapps.storage.models import Event, utcnow

    app = _app()
    with app.app_context(), database.connection_context():
        now = utcnow()
        rows = [{"id": new_id(), "type": "application.updated", "occurred_at": now,
                 "resource_type": "application", "resource_id": new_id(), "revision": 2,
                 "user_id": "bench-events", "client_id": "bench", "reason": None,
                 "summary": {"state": "running", "previousState": None,
                             "workflowState": "running", "owner": "bench-events",
                             "productName": "Premiere Savings", "accountName": "Bench",
                             "applicantName": "Elsa Snowqueen", "organizationName": None,
                             "productId": "51df9a81-2cb8-4515-aad1-9543b3c4fc18"}}
                for _ in range(count)]
        with write_transaction():
            for start in range(0, count, 500):
                Event.insert_many(rows[start:start + 500]).execute()
    runner = app.test_cli_runner()
    started, cpu_started = time.perf_counter(), time.process_time()
    result = runner.invoke(args=["events", "deliver", "--once"])
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    if result.exit_code:
        raise RuntimeError(f"events deliver failed: {result.output}") from result.exception
    return {"seconds": round(seconds, 3), "cpu_ms_per_event": round(cpu * 1000 / count, 3),
            "ids": [row["id"] for row in rows],
            "output": result.output.strip().splitlines()[-1:]}


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.events subscribe|dispatch ...`` (``bench.run`` runs them): JSON out."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sub = commands.add_parser("subscribe", help="subscribe a receiver to every event")
    sub.add_argument("--receiver", required=True)
    timed = commands.add_parser("dispatch", help="write events and time one dispatcher")
    timed.add_argument("--events", type=int, default=DISPATCH_EVENTS)
    for command in (sub, timed):
        command.add_argument("--url", help="the database (default: ACCOUNTAPPS_DATABASE_URL)")
    args = parser.parse_args(argv)
    if args.url:
        os.environ["ACCOUNTAPPS_DATABASE_URL"] = args.url
    result = (subscribe(args.receiver) if args.command == "subscribe"
              else dispatch_timed(args.events))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
