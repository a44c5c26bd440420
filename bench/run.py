"""``make bench``: seed, serve under gunicorn, drive, and compare with bare Flask.

For each database size in ``--rows`` it seeds a database (or reuses one seeded
before, ``--reuse``), starts the service and the baseline (a bare Flask
endpoint returning a constant document of the size of an application) under
the same gunicorn settings, runs the load generator in a separate process
against both, prints a table of throughput and p50/p99 latency with each
throughput as a ratio to the baseline measured in the same run, checks the
targets, and writes everything to ``bench/results/*.json``. With several
sizes it also compares each size's latencies with the smallest one's.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.cpu import CpuSampler

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
API_KEY = "bench-api-key-" + "0" * 24

#: (phase name, load generator kind, what it is)
OPERATIONS = [
    ("get_one", "get_one", "GET one application"),
    ("get_304", "get_304", "GET with matching If-None-Match (304)"),
    ("record", "record", "GET one application's PDF record (p50 < 200 ms)"),
    ("page", "page", "GET /applications: page of 100, sorted, filtered (owner)"),
    ("page_admin", "page_admin", "GET /applications: page of 100, sorted, filtered (admin)"),
    ("create", "create", "POST create"),
    ("create_idempotent", "create_idempotent", "POST create with an Idempotency-Key"),
    ("patch", "patch", "PATCH with If-Match"),
    ("cancel", "cancel", "POST cancel action"),
]
#: minimum throughput as a ratio to a baseline: (baseline, ratio). ``bytes``: the
#: bare endpoint returning the same bytes (the strictest ceiling); ``jsonify``:
#: one serialising the document on every request. Writes: see WRITE_TARGETS.
TARGETS: dict[str, tuple[str, float]] = {
    "get_one": ("bytes", 0.55), "get_304": ("bytes", 0.70), "page": ("bytes", 0.20),
    "page_admin": ("bytes", 0.20), "record": ("bytes", 0.0)}
WRITES = ("create", "create_idempotent", "patch", "cancel")
#: a write's minimum ratio to the jsonify baseline, by database
WRITE_TARGETS = {"SQLite": 0.25, "PostgreSQL": 0.22}
#: A POST with an Idempotency-Key costs at most this much more than one without
#: (create_idempotent's time per request over create's, measured in the same run).
IDEMPOTENCY_COST_LIMIT = 1.10
#: create and create_idempotent run alternately, in this many slices each, so that
#: a change in a shared machine's load falls on both (see idempotency_cost); a
#: slice lasts at least this long (the CPU sampler needs a few samples in each).
IDEMPOTENCY_SLICES = 4
MIN_SLICE_SECONDS = 1.0
CREATE_PAIR = ("create", "create_idempotent")
#: When a baseline's first slice and its measurement at the run's end differ by
#: more than this share of their mean, the machine's speed changed during the run,
#: and its ratios are to be taken with care (the neighbouring slices absorb a slow
#: drift, not a jolt within one operation).
DRIFT_LIMIT = 0.10
#: Each operation's ratios are to the baselines measured just before and just
#: after it (a slice of each, this share of an operation's seconds, between every
#: two operations), so that a machine whose speed drifts during a run moves both
#: sides of a ratio alike.
NEIGHBOUR_SHARE = 0.5
NEIGHBOUR_WARMUP = 0.2
#: p99 limits (ms): reads of one application, and everything else
P99_LIMITS_MS = {"get_one": 15.0, "get_304": 15.0}
P99_LIMIT_MS = 50.0
#: A worker's resident size may grow by at most this much (MiB) in a second
#: round of hostile requests (see memory_report).
RSS_GROWTH_LIMIT_MIB = 4.0
#: gunicorn settings that can be measured instead of gunicorn.conf.py's defaults:
#: (option, the production file's variable)
OVERRIDES = {"workers": "GUNICORN_WORKERS", "threads": "GUNICORN_THREADS",
             "worker_class": "GUNICORN_WORKER_CLASS", "access_log": "GUNICORN_ACCESSLOG",
             "max_requests": "GUNICORN_MAX_REQUESTS"}
CONFIGS = {"production": ROOT / "gunicorn.conf.py",
           "bench-sync": ROOT / "bench" / "gunicorn_settings.py"}
#: Operations judged by the time one request takes (p50, ms), not by throughput:
#: they run with one client, so that no request queues behind another (two
#: clients' keep-alive connections can land on the same worker, whose one
#: thread then serves them in turn while another worker idles).
P50_LIMITS_MS = {"record": 200.0}
SCALE_LIMIT = 1.5


def free_port() -> int:
    """An unused loopback port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(port: int, path: str, headers: dict[str, str], timeout: float = 60) -> None:
    """Poll until the server answers ``path``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", path, headers=headers)
            if conn.getresponse().status < 500:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"the server on port {port} did not start")


@contextmanager
def gunicorn(app: str, port: int, env: dict[str, str], args: argparse.Namespace,
             log: Path, tree: Path = ROOT) -> Iterator[subprocess.Popen]:
    """Run ``app`` under gunicorn for the duration of the block, on loopback.

    Its settings: ``args.config``'s file (the production ``gunicorn.conf.py`` by
    default) with ``args``' overrides, given as an operator would (the
    production file's ``GUNICORN_*`` variables). ``tree``: the checkout whose
    code serves (another one, to compare two versions).
    """
    command = [sys.executable, "-m", "gunicorn", "--config", str(CONFIGS[args.config]),
               "--bind", f"127.0.0.1:{port}", "--chdir", str(tree), app]
    with open(log, "ab") as handle:
        process = subprocess.Popen(command, env={**os.environ, **env, **overrides(args),
                                                 "PYTHONPATH": str(tree)},
                                   stdout=handle, stderr=handle, cwd=tree)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def overrides(args: argparse.Namespace) -> dict[str, str]:
    """The ``GUNICORN_*`` variables of the settings given on the command line."""
    chosen = {variable: getattr(args, option) for option, variable in OVERRIDES.items()
              if getattr(args, option, None) is not None}
    if chosen and args.config != "production":
        raise SystemExit("--workers, --threads, ... override the production settings only")
    return {variable: str(value) for variable, value in chosen.items()}


def settings_of(args: argparse.Namespace) -> dict[str, Any]:
    """The gunicorn settings both servers run with, as gunicorn itself resolves them."""
    printed = subprocess.run(
        [sys.executable, "-m", "gunicorn", "--config", str(CONFIGS[args.config]),
         "--print-config", "wsgi:app"], cwd=ROOT, capture_output=True, text=True, check=True,
        env={**os.environ, **overrides(args)}).stdout
    values = dict(line.split("=", 1) for line in printed.splitlines() if "=" in line)
    value = {key.strip(): item.strip() for key, item in values.items()}.get
    return {"config": args.config, "worker_class": value("worker_class"),
            "workers": int(value("workers") or 1), "threads": int(value("threads") or 1),
            "access_log": value("accesslog") not in (None, "None"),
            "max_requests": int(value("max_requests") or 0),
            "keepalive": int(value("keepalive") or 0)}


def worker_rss(master: int) -> list[float]:
    """The resident size (MiB) of each worker of the gunicorn master ``master``."""
    sizes = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        if fields.get("PPid", "").strip() == str(master) and "VmRSS" in fields:
            sizes.append(round(int(fields["VmRSS"].split()[0]) / 1024, 1))
    return sorted(sizes)


@contextmanager
def sampled(pid: int, enabled: bool, rows: int) -> Iterator[None]:
    """With ``--py-spy``: sample the service's workers (wall clock, not in-process)."""
    if not enabled:
        yield
        return
    out = RESULTS / f"py-spy-{rows}.txt"
    spy = Path(sys.executable).with_name("py-spy")
    sampler = subprocess.Popen([str(spy if spy.exists() else "py-spy"), "record",
                                "--pid", str(pid), "--subprocesses", "--format", "raw",
                                "--rate", "250", "--output", str(out)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        sampler.send_signal(signal.SIGINT)
        sampler.wait(timeout=60)
        print(f"py-spy samples (collapsed stacks): {out}", flush=True)
        print(stack_report(out), flush=True)


def stack_report(path: Path, top: int = 40) -> str:
    """The functions most often on the stack, as a share of all samples (inclusive)."""
    inclusive: dict[str, int] = {}
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        total += int(count)
        # py-spy frames: "function (file:line)"; count each function once per stack.
        for frame in {frame.split(":")[0] for frame in stack.split(";")}:
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    rows = sorted(inclusive.items(), key=lambda item: -item[1])[:top]
    return "\n".join(f"{100 * n / max(total, 1):5.1f}%  {frame}" for frame, n in rows)


def machine() -> dict[str, Any]:
    """Where the figures were taken."""
    model = ""
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            kib = int(handle.readline().split()[1])
            memory = f"{kib / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu": model, "memory": memory,
            "python": platform.python_version(), "platform": platform.platform()}


def durability(url: str) -> dict[str, str]:
    """The database's durability settings as the service's connections see them.

    PostgreSQL waits for the WAL to reach the disk at every commit unless
    ``synchronous_commit`` is off (e.g. ``?options=-csynchronous_commit%3Doff``
    in the URL); SQLite runs WAL with ``synchronous=NORMAL``. Printed with the
    figures: the write figures depend on them.
    """
    if not url.startswith("postgres"):
        return {"journal_mode": "wal", "synchronous": "normal"}
    from accountapps.storage.db import make_database

    database = make_database(url)
    try:
        with database.connection_context():
            return {name: database.execute_sql(f"SHOW {name}").fetchone()[0]
                    for name in ("synchronous_commit", "fsync", "server_version")}
    finally:
        database.close_all()


def _seed_marker(url: str, rows: int | str) -> Path:
    return RESULTS / f"seed-{zlib.crc32(url.encode()):08x}-{rows}.json"


def seeded(url: str, rows: int, reuse: bool) -> dict[str, Any]:
    """Seed (in a separate process, so this one never holds the database) or reuse.

    ``reuse`` takes the database as the last seeding of this size left it,
    with the applications later runs created (their number is printed). A
    database seeded again at another size (one PostgreSQL URL serves every
    size) is not reused: seeding forgets the other sizes' markers.
    """
    marker = _seed_marker(url, rows)
    if reuse and marker.exists():
        info = json.loads(marker.read_text())
        if info.get("url") == url:
            now = applications_in(url)
            held = f"now {now:,} applications" if now is not None else "no kept count"
            print(f"reusing the database seeded with {rows} rows ({held})", flush=True)
            return info
    for other in RESULTS.glob(_seed_marker(url, "*").name):
        other.unlink()
    print(f"seeding {rows} applications ...", flush=True)
    out = subprocess.run([sys.executable, "-m", "bench.seed", "--url", url, "--rows", str(rows)],
                         cwd=ROOT, check=True, capture_output=True, text=True).stdout
    info = json.loads(out)
    info["url"] = url
    marker.write_text(json.dumps(info))
    print(f"seeded in {info['seconds']} s", flush=True)
    return info


def applications_in(url: str) -> int | None:
    """How many applications the database holds (the kept count: no scan), if kept."""
    from accountapps.storage.db import close_all, database, make_database
    from accountapps.storage.row_counts import total

    database.initialize(make_database(url))
    try:
        with database.connection_context():
            return total("application")
    finally:
        close_all()


def sample_representation(port: int, info: dict[str, Any], secret: str) -> bytes:
    """One application's bytes as the service sends them (the baselines return a copy)."""
    sys.path.insert(0, str(ROOT))
    from accountapps.auth.security import mint_token

    user, ids = sorted(info["readers"].items())[0]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/accountApplications/applications/{ids[1]}", headers={
        "API-Key": API_KEY,
        "Authorization": f"Bearer {mint_token(user, 'banking/read', secret=secret)}"})
    response = conn.getresponse()
    body = response.read()
    if response.status != 200:
        raise RuntimeError(f"sample GET failed: {response.status} {body[:300]!r}")
    return body


def bench_size(rows: int, args: argparse.Namespace, url: str) -> dict[str, Any]:
    """Seed, serve and measure one database size."""
    info = seeded(url, rows, args.reuse)
    secret = secrets.token_urlsafe(32)
    service_port, baseline_port = free_port(), free_port()
    env = {"ACCOUNTAPPS_DATABASE_URL": url, "ACCOUNTAPPS_API_KEYS": API_KEY,
           "ACCOUNTAPPS_JWT_SECRET": secret, "ACCOUNTAPPS_LOG_LEVEL": args.log_level,
           "ACCOUNTAPPS_AUTO_MIGRATE": "1", "PYTHONPATH": str(ROOT),
           # Far above the load, so the limiter's cost is measured but it never refuses.
           "ACCOUNTAPPS_RATE_LIMIT": "100000000/minute",
           # the platform the benchmark's bodies link to
           "ACCOUNTAPPS_LINK_HOSTS": "www.example.com"}
    log = RESULTS / "gunicorn.log"
    log.write_bytes(b"")  # this run's logs only
    tree = Path(getattr(args, "service_tree", None) or ROOT)
    with gunicorn("wsgi:app", service_port, env, args, log, tree) as service:
        wait_ready(service_port, "/accountApplications/", {"API-Key": API_KEY})
        raw = sample_representation(service_port, info, secret)
        doc_path = RESULTS / "baseline-document.json"
        doc_path.write_bytes(raw)
        with gunicorn("bench.baseline:app", baseline_port,
                      {"BENCH_BASELINE_DOC": str(doc_path), "PYTHONPATH": str(ROOT)},
                      args, log) as baseline_server:
            wait_ready(baseline_port, "/bytes", {})
            phases, hostile = phases_of(args, baseline_port)
            spec = {"host": "127.0.0.1", "port": service_port, "clients": args.clients,
                    "procs": args.procs, "seconds": args.seconds, "warmup": args.warmup,
                    "api_key": API_KEY, "secret": secret, "run": secrets.token_hex(4),
                    "readers": info["readers"], "patch_targets": info["patch_targets"]}
            cpu = CpuSampler()
            cpu.watch("server", service.pid)
            cpu.watch("server", baseline_server.pid)
            memory = {"start": worker_rss(service.pid)}
            cpu.start()
            with sampled(service.pid, args.py_spy, rows):
                measured = drive({**spec, "phases": phases}, cpu)
            # The workers' size once they have served everything (warm), then after the
            # hostile requests: only the latter growth says memory is not bounded.
            memory["warm"] = worker_rss(service.pid)
            if hostile[0]["kind"] == "hostile":
                measured.update(drive({**spec, "phases": hostile[:1]}, cpu))
                memory["hostile"] = worker_rss(service.pid)
                hostile = [{**hostile[0], "name": "hostile_again"}, *hostile[1:]]
            measured.update(drive({**spec, "phases": hostile}, cpu))
            memory["end"] = worker_rss(service.pid)
            cpu.stop()
    for figures in measured.values():
        figures["cpu_ms_per_request"] = cpu_per_request(cpu, figures.pop("windows"))
    bases = {kind: {key: (measured[f"baseline_{kind}"][key] + measured[f"baseline_{kind}_end"][key])
                    / 2 for key in ("throughput", "p50_ms", "p99_ms")}
             for kind in ("bytes", "jsonify")}
    slots = {phase["name"]: phase["slot"] for phase in phases if "slot" in phase}
    database = "PostgreSQL" if url.startswith("postgres") else "SQLite"
    operations = {}
    for name, _, label in OPERATIONS:
        if name not in measured:
            continue
        figures = measured[name]
        beside = {kind: neighbour_baseline(measured[f"baseline_{kind}"]["slice_throughputs"],
                                           slots[name], base["throughput"])
                  for kind, base in bases.items()}
        ratios = {kind: round(figures["throughput"] / base, 3) if base else 0.0
                  for kind, base in beside.items()}
        against, target = (("jsonify", WRITE_TARGETS[database]) if name in WRITES
                           else TARGETS[name])
        limit = P50_LIMITS_MS.get(name)
        p99_limit = P99_LIMITS_MS.get(name, P99_LIMIT_MS)
        fast = (figures["p50_ms"] < limit if limit is not None
                else ratios[against] >= target and figures["p99_ms"] <= p99_limit)
        figures.update(label=label, ratio=ratios[against], ratios=ratios, against=against,
                       baselines={kind: round(base, 1) for kind, base in beside.items()},
                       target=target, p50_limit_ms=limit, p99_limit_ms=p99_limit,
                       ok=bool(fast and figures["errors"] == 0))
        operations[name] = figures
    hostile = measured.get("hostile")
    if hostile:
        hostile["ok"] = hostile["errors"] == 0
    return {"rows": info["rows"], "seed_seconds": info["seconds"], "document_bytes": len(raw),
            "baseline": {**bases["bytes"], "jsonify": bases["jsonify"],
                         "before": measured["baseline_bytes"],
                         "after": measured["baseline_bytes_end"],
                         "jsonify_before": measured["baseline_jsonify"],
                         "jsonify_after": measured["baseline_jsonify_end"],
                         "drift": max(baseline_drift(
                             {"throughput": measured[f"baseline_{kind}"]["slice_throughputs"][0]},
                             measured[f"baseline_{kind}_end"]) for kind in ("bytes", "jsonify"))},
            "operations": operations, "hostile": hostile, "memory": memory_report(memory),
            "idempotency": idempotency_cost(operations)}


def phases_of(args: argparse.Namespace,
              baseline_port: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The load generator's phases, in two runs: the operations with slices of both
    baselines before, between and after them (:func:`with_neighbour_baselines`); then
    hostile requests (unless ``--only`` leaves them out) and both baselines again."""
    baselines = [{"name": f"baseline_{kind}", "kind": "baseline", "path": f"/{kind}",
                  "port": baseline_port} for kind in ("bytes", "jsonify")]
    phases: list[dict[str, Any]] = []
    for name, kind, _ in OPERATIONS:
        if name in args.only or not args.only:
            phase: dict[str, Any] = {"name": name, "kind": kind}
            if kind == "cancel":
                # It cancels what the create phase made: no warm-up to use them up.
                phase["warmup"] = 0.05
            if name in P50_LIMITS_MS:
                phase["clients"] = 1
            phases.append(phase)
    later = [{"name": "hostile", "kind": "hostile", "warmup": 0.0}] if (
        "hostile" in args.only or not args.only) else []
    return (with_neighbour_baselines(alternate_creates(phases, args.seconds), baselines,
                                     args.seconds),
            later + [{**base, "name": f"{base['name']}_end"} for base in baselines])


def with_neighbour_baselines(operations: list[dict[str, Any]], baselines: list[dict[str, Any]],
                             seconds: float) -> list[dict[str, Any]]:
    """``operations`` with a slice of each baseline before the first, between each two and
    after the last; an operation's ``slot`` is the number of the slice just before it.

    The create pair, run alternately (:func:`alternate_creates`), is one slot.
    """
    length = max(MIN_SLICE_SECONDS, seconds * NEIGHBOUR_SHARE)

    def boundary(number: int) -> list[dict[str, Any]]:
        return [{**base, "slice": number, "seconds": length,
                 **({"warmup": NEIGHBOUR_WARMUP} if number else {})} for base in baselines]

    phases, slot = boundary(0), 0
    for index, phase in enumerate(operations):
        paired = (index > 0 and phase["name"] in CREATE_PAIR
                  and operations[index - 1]["name"] in CREATE_PAIR)
        if index and not paired:
            slot += 1
            phases += boundary(slot)
        phases.append({**phase, "slot": slot})
    return phases + (boundary(slot + 1) if operations else [])


def neighbour_baseline(slices: list[float], slot: int, fallback: float) -> float:
    """The mean of a baseline's slices just before and just after slot ``slot``
    (``fallback`` when either is missing)."""
    if len(slices) < slot + 2 or not (slices[slot] and slices[slot + 1]):
        return fallback
    return (slices[slot] + slices[slot + 1]) / 2


def drive(spec: dict[str, Any], cpu: CpuSampler) -> dict[str, Any]:
    """Run the load generator (a process of its own, its CPU counted) over ``spec``."""
    spec_path = RESULTS / "loadgen-spec.json"
    spec_path.write_text(json.dumps(spec))
    loadgen = subprocess.Popen([sys.executable, "-m", "bench.loadgen", str(spec_path)],
                               cwd=ROOT, stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})
    cpu.watch("loadgen", loadgen.pid)
    out, _ = loadgen.communicate()
    if loadgen.returncode:
        raise RuntimeError(f"the load generator failed ({loadgen.returncode})")
    return json.loads(out)


def memory_report(memory: dict[str, list[float]]) -> dict[str, Any]:
    """Workers' resident sizes (MiB): fresh, warm (after the operations), after a round
    of hostile requests and after a second one. Bounded when the second round adds
    at most the limit: the first may grow the allocator's arenas once, a leak grows
    with every round."""
    start, warm, end = (memory.get(key) or [0.0] for key in ("start", "warm", "end"))
    hostile = memory.get("hostile") or warm
    growth = max(end) - max(hostile)
    return {"start_mib": start, "warm_mib": warm, "hostile_mib": hostile, "end_mib": end,
            "growth_mib": round(growth, 1), "limit_mib": RSS_GROWTH_LIMIT_MIB,
            "ok": growth <= RSS_GROWTH_LIMIT_MIB}


def alternate_creates(phases: list[dict[str, Any]], seconds: float) -> list[dict[str, Any]]:
    """``phases`` with create and create_idempotent, if both are there, run alternately
    in up to :data:`IDEMPOTENCY_SLICES` slices each (the first slice of each warms up)."""
    pair = [phase for phase in phases if phase["name"] in CREATE_PAIR]
    count = min(IDEMPOTENCY_SLICES, int(seconds // MIN_SLICE_SECONDS))
    if len(pair) != 2 or count < 2:
        return phases
    at = phases.index(pair[0])
    rest = [phase for phase in phases if phase not in pair]
    slices = [{**phase, "slice": number, "seconds": seconds / count,
               **({"warmup": 0.1} if number else {})}
              for number in range(count) for phase in pair]
    return rest[:at] + slices + rest[at:]


def cpu_per_request(cpu: CpuSampler, windows: list[list[float]]) -> dict[str, float]:
    """Each role's CPU ms per request over a phase's time windows (its slices)."""
    totals: dict[str, float] = {}
    requests = 0
    for start, end, count in windows:
        figures = cpu.per_request(start, end, int(count))
        if not figures:
            continue
        requests += int(count)
        for role, value in figures.items():
            totals[role] = totals.get(role, 0.0) + value * count
    return {role: round(value / requests, 3) for role, value in totals.items()} if requests else {}


def idempotency_cost(operations: dict[str, Any]) -> dict[str, Any] | None:
    """What an ``Idempotency-Key`` adds to a create, keyed over plain: the time per
    request (the median over the alternate slices of the inverse ratio of their
    throughputs) and the service's CPU per request."""
    plain, keyed = operations.get("create"), operations.get("create_idempotent")
    if not plain or not keyed or not keyed["throughput"]:
        return None
    pairs = [before / after for before, after in zip(plain["slice_throughputs"],
                                                     keyed["slice_throughputs"], strict=False)
             if after]
    cost = statistics.median(pairs) if pairs else plain["throughput"] / keyed["throughput"]
    cpu = [(figures.get("cpu_ms_per_request") or {}).get("server") for figures in (plain, keyed)]
    return {"time_per_request": round(cost, 3), "slices": [round(x, 3) for x in pairs],
            "server_cpu_per_request": round(cpu[1] / cpu[0], 3) if all(cpu) else None,
            "limit": IDEMPOTENCY_COST_LIMIT, "ok": cost <= IDEMPOTENCY_COST_LIMIT}


def baseline_drift(before: dict[str, Any], after: dict[str, Any]) -> float:
    """How far a baseline's throughput moved from a run's start to its end, as a
    share of the two's mean (0.0 when nothing was measured)."""
    mean = (before["throughput"] + after["throughput"]) / 2
    return round(abs(before["throughput"] - after["throughput"]) / mean, 3) if mean else 0.0


def print_table(result: dict[str, Any], database: str) -> None:
    """The figures of one size as a text table."""
    base = result["baseline"]
    print(f"\n{database}, {result['rows']:,} applications; baselines (bare Flask, the "
          f"{result['document_bytes']} bytes of an application): same bytes "
          f"{base['throughput']:.0f} req/s (p50 {base['p50_ms']:.2f} ms, p99 "
          f"{base['p99_ms']:.2f} ms), jsonify {base['jsonify']['throughput']:.0f} req/s")
    drift = base.get("drift", 0.0)
    if drift > DRIFT_LIMIT:
        print(f"WARNING: a baseline moved by {drift:.0%} between the run's start and end (limit "
              f"{DRIFT_LIMIT:.0%}): the machine's speed changed during the run, so its ratios "
              "are not to be trusted; run it again on a quieter machine.")
    print(f"{'operation':<58} {'req/s':>7} {'bytes':>6} {'jsonify':>7} {'target':>12} "
          f"{'p50 ms':>7} {'p99 ms':>7} {'errors':>6}  ok")
    for figures in result["operations"].values():
        target = (f"p50<{figures['p50_limit_ms']:.0f}ms" if figures["p50_limit_ms"] else
                  f"{figures['target']:.2f} {figures['against'][:5]}")
        print(f"{figures['label']:<58} {figures['throughput']:>7.0f} "
              f"{figures['ratios']['bytes']:>6.2f} {figures['ratios']['jsonify']:>7.2f} "
              f"{target:>12} {figures['p50_ms']:>7.2f} {figures['p99_ms']:>7.2f} "
              f"{figures['errors']:>6}  {'yes' if figures['ok'] else 'NO'}")
        if figures["first_error"]:
            print(f"    first error: {figures['first_error']}")
    print(f"(p99 limits: {', '.join(f'{k} {v:.0f} ms' for k, v in P99_LIMITS_MS.items())}, "
          f"otherwise {P99_LIMIT_MS:.0f} ms)")
    hostile = result.get("hostile")
    if hostile:
        print(f"hostile requests: {hostile['requests']} refused, {hostile['errors']} "
              f"answered otherwise  {'yes' if hostile['ok'] else 'NO'}"
              + (f" ({hostile['first_error']})" if hostile["first_error"] else ""))
    memory = result["memory"]
    print(f"workers' resident MiB: fresh {max(memory['start_mib'])}, warm "
          f"{max(memory['warm_mib'])}, after hostile requests {max(memory['hostile_mib'])}, "
          f"after as many again {max(memory['end_mib'])} (growth {memory['growth_mib']:+.1f}, "
          f"limit {memory['limit_mib']:.0f})  "
          f"{'yes' if memory['ok'] else 'NO'}")
    cost = result.get("idempotency")
    if cost:
        cpu = cost["server_cpu_per_request"]
        print(f"Idempotency-Key on a create: {cost['time_per_request']:.2f} x the time per "
              f"request without one (limit {cost['limit']:.2f})"
              + (f", {cpu:.2f} x the service's CPU" if cpu else "")
              + f"  {'yes' if cost['ok'] else 'NO'}")
    print_cpu(result)


def print_cpu(result: dict[str, Any]) -> None:
    """Each operation's CPU per request by role: whose time the machine spent."""
    base = result["baseline"]
    rows = [("baseline, same bytes (before)", base["before"]),
            ("baseline, jsonify (before)", base["jsonify_before"]),
            *((f["label"], f) for f in result["operations"].values()),
            ("baseline, same bytes (after)", base["after"]),
            ("baseline, jsonify (after)", base["jsonify_after"])]
    if not any(f.get("cpu_ms_per_request") for _, f in rows):
        return
    print(f"\nCPU ms per request ({'server':>6} = the service or the baseline; idle = the "
          "cores' idle time)")
    print(f"{'':<58} {'server':>7} {'database':>8} {'loadgen':>7} {'other':>6} {'idle':>6}")
    for label, figures in rows:
        cpu = figures.get("cpu_ms_per_request") or {}
        print(f"{label:<58} " + " ".join(
            f"{cpu.get(role, 0.0):>{width}.2f}" for role, width in
            (("server", 7), ("database", 8), ("loadgen", 7), ("other", 6), ("idle", 6))))


def compare_sizes(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Each size's p50 latency (and throughput) relative to the smallest size's."""
    smallest = results[0]
    comparison: dict[str, Any] = {}
    for result in results[1:]:
        rows = {}
        for name, figures in result["operations"].items():
            reference = smallest["operations"].get(name)
            if not reference:
                continue
            # Normalise by each run's own baseline, so machine noise between the runs cancels.
            latency = (figures["p50_ms"] / result["baseline"]["p50_ms"]) / (
                reference["p50_ms"] / smallest["baseline"]["p50_ms"])
            rows[name] = {"latency_vs_smallest": round(latency, 2),
                          "raw_p50_vs_smallest": round(figures["p50_ms"] / reference["p50_ms"], 2),
                          "ok": latency <= SCALE_LIMIT}
        comparison[str(result["rows"])] = rows
        print(f"\n{result['rows']:,} rows vs {smallest['rows']:,}: p50 latency ratio "
              f"(each normalised by its own baseline; target ≤ {SCALE_LIMIT})")
        for name, row in rows.items():
            print(f"  {name:<12} {row['latency_vs_smallest']:>5.2f} "
                  f"(raw {row['raw_p50_vs_smallest']:.2f})  {'yes' if row['ok'] else 'NO'}")
    return comparison


def database_url(given: str | None, rows: int) -> str:
    """The database of a size: ``given`` (``--database-url``), or a SQLite file per size."""
    return given or f"sqlite:///{RESULTS / f'bench-{rows}.db'}"


def repeated(parser: argparse.ArgumentParser,
             argv: list[str] | None) -> tuple[argparse.Namespace, argparse.Namespace, int, str]:
    """For a command measuring several times on one database (``bench.compare``,
    ``bench.candidates``): its own options, this module's for each measurement
    (reusing the database after the first), and the first size with its database."""
    own, rest = parser.parse_known_args(argv)
    args = parse_args(rest)
    args.reuse = True  # every measurement after the first reads the same database
    rows = int(args.rows.replace("_", "").split()[0])
    return own, args, rows, database_url(args.database_url, rows)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The benchmark's options (defaults from ``BENCH_*`` variables)."""
    parser = argparse.ArgumentParser(description="Benchmark accountapps against bare Flask.")
    parser.add_argument("--rows", default=os.environ.get("BENCH_ROWS", "10000"),
                        help="database sizes, e.g. '10000 100000 1000000'")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", ""),
                        help="default: a SQLite file per size under bench/results/")
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 5)))
    parser.add_argument("--warmup", type=float, default=float(os.environ.get("BENCH_WARMUP", 1)))
    parser.add_argument("--clients", type=int, default=int(os.environ.get("BENCH_CLIENTS", 8)))
    parser.add_argument("--procs", type=int, default=int(os.environ.get("BENCH_PROCS", 2)))
    parser.add_argument("--config", choices=sorted(CONFIGS),
                        default=os.environ.get("BENCH_CONFIG", "production"),
                        help="gunicorn settings of both servers: the production "
                             "gunicorn.conf.py (default) or bench/gunicorn_settings.py")
    env_int = lambda name: int(os.environ[name]) if os.environ.get(name) else None  # noqa: E731
    parser.add_argument("--workers", type=int, default=env_int("BENCH_WORKERS"),
                        help="override the production workers (GUNICORN_WORKERS)")
    parser.add_argument("--threads", type=int, default=env_int("BENCH_THREADS"),
                        help="override the production threads per worker")
    parser.add_argument("--worker-class", default=os.environ.get("BENCH_WORKER_CLASS"),
                        help="override the production worker class (e.g. sync, gthread)")
    parser.add_argument("--access-log", default=os.environ.get("BENCH_ACCESS_LOG"),
                        help="override the production access log ('' turns it off)")
    parser.add_argument("--max-requests", type=int, default=env_int("BENCH_MAX_REQUESTS"),
                        help="override the production worker recycling (0: never)")
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--only", nargs="*", default=[],
                        help="operations to run (default all); 'events': the events' speed")
    parser.add_argument("--reuse", action="store_true",
                        default=os.environ.get("BENCH_REUSE", "") not in ("", "0"),
                        help="reuse a database seeded before with the same size")
    parser.add_argument("--check", action="store_true", help="exit 1 if a target is missed")
    parser.add_argument("--py-spy", action="store_true",
                        help="sample the service's workers with py-spy during the run and "
                             "print the functions most often on the stack")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; exit status 1 when a target is missed (with ``--check``)."""
    args = parse_args(argv)
    from bench import events as bench_events  # it imports this module
    # Stopped from outside: unwind, so the servers it started are stopped too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    RESULTS.mkdir(parents=True, exist_ok=True)
    sizes = [int(size.replace("_", "")) for size in args.rows.replace(",", " ").split()]
    results = []
    database = "PostgreSQL" if args.database_url.startswith("postgres") else "SQLite"
    gunicorn_settings = settings_of(args)
    print(f"gunicorn ({args.config}, both servers): {gunicorn_settings['workers']} "
          f"{gunicorn_settings['worker_class']} workers x {gunicorn_settings['threads']} "
          f"thread(s), access log {'on' if gunicorn_settings['access_log'] else 'off'}, "
          f"max_requests {gunicorn_settings['max_requests']}; "
          f"{args.clients} clients in {args.procs} processes")
    settings = durability(args.database_url)
    print(f"{database}: {', '.join(f'{k}={v}' for k, v in settings.items())}")
    for rows in sizes:
        url = database_url(args.database_url, rows)
        result = bench_size(rows, args, url)
        print_table(result, database)
        if bench_events.wanted(args):  # the events' speed (issue 23): bench/events.py
            result["events"] = bench_events.measure(rows, args, url)
            bench_events.print_table(result["events"])
        results.append(result)
    report = {"taken_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": machine(), "database": database, "database_settings": settings,
              "settings": {k: v for k, v in vars(args).items() if k != "check"},
              "gunicorn": gunicorn_settings,
              "sizes": results,
              "scale": compare_sizes(results) if len(results) > 1 else {}}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS / f"bench-{stamp}-{database.lower()}-{'-'.join(map(str, sizes))}.json"
    path.write_text(json.dumps(report, indent=2))
    print(f"\nresults: {path.relative_to(ROOT)}")
    missed = [name for result in results for name, f in result["operations"].items()
              if not f["ok"]]
    missed += [f"{result['rows']}:{part}" for result in results for part in ("hostile", "memory")
               if result.get(part) and not result[part]["ok"]]
    missed += [f"{size}:{name}" for size, rows in report["scale"].items()
               for name, row in rows.items() if not row["ok"]]
    missed += [f"{result['rows']}:idempotency_cost" for result in results
               if result.get("idempotency") and not result["idempotency"]["ok"]]
    missed += [name for result in results  # the events' targets (bench/events.py)
               for name in bench_events.missed(result.get("events"), result["rows"])]
    if missed:
        print(f"targets missed: {', '.join(missed)}")
    return 1 if (missed and args.check) else 0


if __name__ == "__main__":
    sys.exit(main())
