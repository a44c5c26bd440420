"""The multi-process guarantees, as scenarios with a size knob.

tests/test_proofs.py runs them small (in CI, on SQLite and PostgreSQL);
bench/proofs.py runs them large. Each returns what it observed; the caller
asserts. Nothing here trusts the service's answers alone: the database is
inspected directly through ``app`` (an app on the same database URL).
"""

from __future__ import annotations

import copy
import http.client
import json
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from flask import Flask
from live_server import Reply, flask_command, request
from live_server import RestartableServer as LiveServer

from accountapps.auth.security import mint_token
from accountapps.storage import db
from accountapps.storage.models import (
    Application,
    ApplicationApplicant,
    AuditRecord,
    Event,
    IdempotencyKey,
    utcnow,
)

USER_SCOPES = "banking/read banking/write banking/delete"
ADMIN_SCOPES = "banking/full admin/full profiles/full"

CREATE_BODY: dict[str, Any] = {
    "accountName": "My checking account",
    "_links": {"apiture:product": {
        "href": "https://www.example.com/products/products/51df9a81-2cb8-4515-aad1-9543b3c4fc18"}},
    "applicants": [{
        "username": "Snowqueen123",
        "contact": {"firstName": "Elsa", "lastName": "Snowqueen", "_links": {"self": {
            "href": "https://www.example.com/users/user/3017d005-9910-4a8b-874b-397749353e7a"}}},
        "role": {"name": "primaryUser", "label": "Primary User"},
    }],
}


@dataclass(frozen=True)
class Credentials:
    """The API key and HS256 secret the server under test accepts."""

    api_key: str
    secret: str

    def headers(self, sub: str, scopes: str = USER_SCOPES) -> dict[str, str]:
        token = mint_token(sub, scopes, secret=self.secret, expires_in=3600)
        return {"API-Key": self.api_key, "Authorization": f"Bearer {token}"}


def create_application(url: str, creds: Credentials, sub: str) -> Reply:
    """``POST /applications`` as ``sub``; must be ``201``."""
    reply = request(url, "POST", "/applications", headers=creds.headers(sub),
                 json_body=copy.deepcopy(CREATE_BODY))
    if reply.status != 201:
        raise AssertionError(f"create failed: {reply.status} {reply.body}")
    return reply


def _release_together(count: int, call) -> list[Any]:
    """Run ``call(i)`` for ``i < count`` on ``count`` threads released at one instant."""
    barrier = threading.Barrier(count)

    def run(index: int) -> Any:
        barrier.wait()
        return call(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(run, range(count)))


# --- (a) one ETag, many writers --------------------------------------------------

def racing_patches(server: LiveServer, creds: Credentials, clients: int) -> dict[str, Any]:
    """``clients`` PATCHes carrying the same ``If-Match``; statuses and the final state."""
    sub = f"race-{uuid.uuid4().hex[:8]}"
    created = create_application(server.url, creds, sub)
    app_id, etag = created.body["_id"], created.etag

    def patch(index: int) -> Reply:
        return request(server.url, "PATCH", f"/applications/{app_id}",
                    headers={**creds.headers(sub), "If-Match": etag},
                    json_body={"accountName": f"writer {index}"})

    replies = _release_together(clients, patch)
    final = request(server.url, "GET", f"/applications/{app_id}", headers=creds.headers(sub))
    winners = [i for i, reply in enumerate(replies) if reply.status == 200]
    return {
        "statuses": Counter(reply.status for reply in replies),
        "winners": winners,
        "final_name": final.body["accountName"],
        "final_etag": final.etag,
        "winner_etags": [replies[i].etag for i in winners],
    }


# --- (b) conflicting transitions ---------------------------------------------------

TARGETS = {"approved": "/approvedApplications", "rejected": "/rejectedApplications",
           "canceled": "/canceledApplications", "expired": "/expiredApplications"}


def racing_transitions(server: LiveServer, creds: Credentials, app: Flask,
                       rounds: int) -> list[dict[str, Any]]:
    """Per round: one application, four administrators asking for four terminal states."""
    results = []
    admin = creds.headers("admin-race", ADMIN_SCOPES)
    targets = list(TARGETS)
    for _ in range(rounds):
        app_id = create_application(server.url, creds, f"tr-{uuid.uuid4().hex[:8]}").body["_id"]

        def act(index: int, app_id: str = app_id) -> Reply:
            return request(server.url, "POST", f"{TARGETS[targets[index]]}?application={app_id}",
                        headers=admin)

        replies = _release_together(len(targets), act)
        with app.app_context():
            records = list(AuditRecord.select().where(
                (AuditRecord.resource_id == app_id) & AuditRecord.from_state.is_null(False))
                .order_by(AuditRecord.id))
            state = Application.get_by_id(app_id).state
        results.append({
            "statuses": {targets[i]: reply.status for i, reply in enumerate(replies)},
            "state": state,
            "transitions": [(r.from_state, r.to_state) for r in records],
        })
    return results


# --- (b') retries of one request, all at once -----------------------------------------

def _answers(replies: list[Reply]) -> dict[str, Any]:
    """The statuses of ``replies``, and their distinct successful answers."""
    answers = {(r.status, r.headers.get("Location"), r.etag, json.dumps(r.body, sort_keys=True))
               for r in replies if r.status < 300}
    return {"statuses": Counter(r.status for r in replies),
            "distinct_answers": len(answers),
            "replayed": sum(r.headers.get("Idempotent-Replayed") == "true" for r in replies),
            "refusals": Counter(r.body["_error"]["type"] for r in replies if r.status >= 300)}


def racing_retries(server: LiveServer, creds: Credentials, app: Flask,
                   clients: int) -> dict[str, Any]:
    """``clients`` identical creates with one ``Idempotency-Key`` at once, then as many
    identical cancels of the new application with another key."""
    sub = f"retry-{uuid.uuid4().hex[:8]}"
    headers = creds.headers(sub)

    def create(_index: int) -> Reply:
        return request(server.url, "POST", "/applications",
                       headers={**headers, "Idempotency-Key": f"{sub}-create"},
                       json_body=copy.deepcopy(CREATE_BODY))

    created = _release_together(clients, create)
    with app.app_context():
        ids = [row.id for row in Application.select().where(Application.owner == sub)]
    app_id = ids[0] if ids else None

    def cancel(_index: int) -> Reply:
        return request(server.url, "POST", f"/canceledApplications?application={app_id}",
                       headers={**headers, "Idempotency-Key": f"{sub}-cancel"})

    canceled = _release_together(clients, cancel) if app_id else []
    with app.app_context():
        records = [(r.from_state, r.to_state) for r in AuditRecord.select().where(
            AuditRecord.resource_id == app_id).order_by(AuditRecord.id)]
        keys = IdempotencyKey.select().where(IdempotencyKey.user_id == sub).count()
        events = [e.type for e in Event.select().where(
            Event.resource_id == app_id).order_by(Event.seq)]
    return {"create": _answers(created), "cancel": _answers(canceled),
            "applications": len(ids), "audit_trail": records, "stored_keys": keys,
            "events": events}


# --- (c) durability under SIGKILL ----------------------------------------------------

@dataclass
class Writer:
    """One client writing steadily: creates its application, then PATCHes a counter."""

    sub: str
    app_id: str | None = None
    etag: str | None = None
    acked: int = -1  # last counter value acknowledged with 2xx (-1: nothing yet)
    sent: int = -1  # last counter value sent (acknowledged or not)
    errors: Counter = field(default_factory=Counter)


def _write_steadily(server: LiveServer, creds: Credentials, writer: Writer,
                    stop: threading.Event) -> None:
    headers = creds.headers(writer.sub)
    while not stop.is_set():
        try:
            if writer.app_id is None:
                writer.sent = 0
                reply = request(server.url, "POST", "/applications", headers=headers,
                             json_body={**copy.deepcopy(CREATE_BODY), "accountName": "n 0"},
                             timeout=5)
                if reply.status == 201:
                    writer.app_id, writer.etag = reply.body["_id"], reply.etag
                    writer.acked = 0
                elif reply.status == 409:  # an unacknowledged create did commit
                    writer.app_id = reply.body["_error"]["attributes"]["application"]
                    writer.etag = None
                else:
                    writer.errors[reply.status] += 1
                continue
            if writer.etag is None:
                reply = request(server.url, "GET", f"/applications/{writer.app_id}",
                             headers=headers, timeout=5)
                if reply.status == 200:
                    writer.etag = reply.etag
                    writer.sent = max(writer.sent, int(reply.body["accountName"].split()[1]))
                continue
            counter = writer.sent + 1
            writer.sent = counter
            reply = request(server.url, "PATCH", f"/applications/{writer.app_id}",
                         headers={**headers, "If-Match": writer.etag},
                         json_body={"accountName": f"n {counter}"}, timeout=5)
            if reply.status == 200:
                writer.acked, writer.etag = counter, reply.etag
            else:
                writer.errors[reply.status] += 1
                writer.etag = None  # re-read: an unacknowledged write may have landed
        except (OSError, http.client.HTTPException, ValueError) as exc:
            # The server died mid-request: the outcome of this request is unknown.
            writer.errors[type(exc).__name__] += 1
            writer.etag = None
            time.sleep(0.05)


def durability(server: LiveServer, creds: Credentials, app: Flask, *, writers: int,
               kills: int, seconds_between: float) -> dict[str, Any]:
    """Kill the whole gunicorn process group ``kills`` times under load; check every write."""
    run = uuid.uuid4().hex[:6]
    clients = [Writer(f"dur-{run}-{i}") for i in range(writers)]
    stop = threading.Event()
    threads = [threading.Thread(target=_write_steadily, args=(server, creds, w, stop))
               for w in clients]
    for thread in threads:
        thread.start()
    try:
        for _ in range(kills):
            time.sleep(seconds_between)
            server.kill()
            server.start()
        time.sleep(seconds_between)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)

    lost, regressed = [], []
    with app.app_context():
        for writer in clients:
            if writer.acked < 0:
                continue
            row = Application.get_or_none(Application.id == writer.app_id)
            if row is None:
                lost.append(writer.sub)
                continue
            stored = int(row.document["accountName"].split()[1])
            if not writer.acked <= stored <= writer.sent:
                regressed.append((writer.sub, writer.acked, stored, writer.sent))
        half_written = integrity_problems(f"dur-{run}-")
    return {
        "acknowledged_writes": sum(w.acked + 1 for w in clients if w.acked >= 0),
        "unacknowledged": sum((w.errors for w in clients), Counter()),
        "lost_applications": lost,
        "lost_or_phantom_updates": regressed,
        "half_written": half_written,
    }


def integrity_problems(owner_prefix: str) -> list[str]:
    """Rows that only part of a transaction wrote (call inside an app context)."""
    problems = []
    apps = list(Application.select().where(Application.owner.startswith(owner_prefix)))
    ids = {row.id for row in apps}
    for row in apps:
        created = AuditRecord.select().where(
            (AuditRecord.resource_id == row.id) & AuditRecord.from_state.is_null()).count()
        if created != 1:
            problems.append(f"{row.id}: {created} creation audit records")
        if not ApplicationApplicant.select().where(
                ApplicationApplicant.application_id == row.id).exists():
            problems.append(f"{row.id}: no applicant rows")
        if row.account_name != row.document.get("accountName"):
            problems.append(f"{row.id}: column and document disagree")
    orphans = AuditRecord.select(AuditRecord.resource_id).where(
        AuditRecord.resource_type == "application").distinct()
    for record in orphans:
        if record.resource_id not in ids and Application.get_or_none(
                Application.id == record.resource_id) is None:
            problems.append(f"audit record of missing application {record.resource_id}")
    return problems


# --- (d) expiry sweeps on several hosts -----------------------------------------------

def concurrent_expiry(settings: dict[str, str], creds: Credentials, server: LiveServer,
                      app: Flask, *, applications: int, hosts: int = 2) -> dict[str, Any]:
    """Age ``applications``, run ``hosts`` ``flask expire`` sweeps at once, count outcomes."""
    run = uuid.uuid4().hex[:6]
    ids = [create_application(server.url, creds, f"exp-{run}-{i}").body["_id"]
           for i in range(applications)]
    with app.app_context(), db.write_transaction():
        Application.update(active_at=utcnow() - timedelta(days=400)).where(
            Application.id.in_(ids)).execute()
    sweeps = [flask_command(settings, "expire") for _ in range(hosts)]
    outputs = [sweep.communicate(timeout=120) for sweep in sweeps]
    with app.app_context():
        states = Counter(row.state for row in Application.select(Application.state).where(
            Application.id.in_(ids)))
        expiries = Counter(r.resource_id for r in AuditRecord.select().where(
            AuditRecord.resource_id.in_(ids) & (AuditRecord.to_state == "expired")))
    return {
        "exit_codes": [sweep.returncode for sweep in sweeps],
        "outputs": [out.strip() for out, _err in outputs],
        "errors": [err[-2000:] for _out, err in outputs],
        "states": states,
        "expiry_records_per_application": Counter(expiries[i] for i in ids),
    }


# --- migrations from several hosts -----------------------------------------------------

def concurrent_upgrades(settings: dict[str, str], processes: int) -> dict[str, Any]:
    """``processes`` runs of ``flask db upgrade`` at once on one (empty) database."""
    settings = {**settings, "ACCOUNTAPPS_AUTO_MIGRATE": "0"}
    runs = [flask_command(settings, "db", "upgrade") for _ in range(processes)]
    outputs = [run.communicate(timeout=120) for run in runs]
    return {
        "exit_codes": [run.returncode for run in runs],
        "outputs": [out.strip() for out, _err in outputs],
        "errors": [err[-2000:] for _out, err in outputs],
    }
