"""Flask commands for events and webhooks: ``events deliver|prune``, ``webhooks ...``.

``events deliver`` is the dispatcher (run it as a service; ``--once`` for cron
or a test); ``events prune`` removes old delivered events (cron). ``webhooks``
does for operators what ``/webhookSubscriptions`` does for the institution's
systems, and ``webhooks listen`` is a receiver for trying it out: it prints each
delivery whose Standard Webhooks signature verifies.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accountapps.auth.principal import Principal
from accountapps.domain import dispatch, events, webhooks
from accountapps.domain.errors import ApiError, IfMatch
from accountapps.representations.webhooks import (
    render_deliveries,
    render_subscription,
    render_subscriptions,
)
from accountapps.storage.db import database
from accountapps.web import hal

_ANY = IfMatch(any=True, revisions=frozenset())


def api_url(app: Flask) -> str:
    """The API's absolute URL for links outside a request (``ACCOUNTAPPS_PUBLIC_URL``)."""
    return f"{app.config['ACCOUNTAPPS_PUBLIC_URL']}{hal.BASE_PATH}"


def operator() -> Principal:
    """Who runs a command: the institution's operator at this terminal."""
    return Principal(f"operator:{getpass.getuser()}", frozenset({"admin/full"}), "cli")


@contextlib.contextmanager
def _operating() -> Iterator[None]:
    """A database connection and a request context for links; domain refusals as errors."""
    base = current_app.config["ACCOUNTAPPS_PUBLIC_URL"] or "http://localhost"
    try:
        with database.connection_context(), current_app.test_request_context(base_url=base):
            yield
    except ApiError as exc:
        problems = "; ".join(e["message"] for e in exc.errors or [])
        raise click.ClickException(f"{exc.message} {problems}".strip()) from exc


def _echo(body: Any) -> None:
    click.echo(json.dumps(body, indent=2))


def init_app(app: Flask) -> None:
    """Register the ``events`` and ``webhooks`` command groups."""
    app.cli.add_command(events_group)
    app.cli.add_command(webhooks_group)


events_group = AppGroup("events", help="The event outbox: deliver webhooks, prune old events.")
webhooks_group = AppGroup("webhooks", help="Webhook subscriptions (as POST/GET/PATCH/DELETE "
                                           "/webhookSubscriptions), and a test receiver.")


@events_group.command("deliver")
@click.option("--once", is_flag=True, help="Deliver what is due now, then exit.")
@click.option("--workers", type=click.IntRange(1, 64), default=8, show_default=True,
              help="Deliveries in flight at once.")
@click.option("--batch", type=click.IntRange(1, 1000), default=64, show_default=True,
              help="Deliveries claimed per round.")
@click.option("--lease", type=click.FloatRange(min=1), default=None,
              help="Seconds a claimed delivery stays this dispatcher's (default: enough "
                   "for a batch at ACCOUNTAPPS_WEBHOOK_TIMEOUT).")
@click.option("--interval", type=click.FloatRange(min=0.01), default=0.1, show_default=True,
              help="Seconds between looks for new events when there was nothing to do.")
def deliver(once: bool, workers: int, batch: int, lease: float | None, interval: float) -> None:
    """The dispatcher: push events to the subscribed receivers until stopped (SIGTERM).

    On PostgreSQL, run as many as you like on any hosts; on SQLite, run one.
    """
    settings = dispatch.Settings.from_config(current_app.config, api_url(current_app),
                                             workers=workers, batch=batch, lease=lease)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_args: stop.set())
    click.echo("delivering events (SIGTERM stops after the round in flight)", err=True)
    count = dispatch.Dispatcher(settings).run(stop, once=once, idle=interval)
    click.echo(f"attempted deliveries: {count}", err=True)


@events_group.command("prune")
def prune() -> None:
    """Delete delivered events older than ACCOUNTAPPS_EVENT_RETENTION_DAYS (for cron)."""
    with database.connection_context():
        count = events.prune()
    click.echo(f"pruned events: {count}")


@webhooks_group.command("create")
@click.option("--url", required=True, help="The receiver (https, public address).")
@click.option("--event", "types", multiple=True, required=True,
              help="An event type, application.*, or * (repeat for several).")
@click.option("--description", default=None)
def create(url: str, types: tuple[str, ...], description: str | None) -> None:
    """Subscribe a receiver; prints the subscription with its secret (shown once)."""
    with _operating():
        row, secret = webhooks.create(operator(), {"url": url, "events": list(types),
                                                   "description": description})
        _echo(render_subscription(row, secret))


@webhooks_group.command("list")
def list_subscriptions() -> None:
    """Every subscription."""
    with _operating():
        _echo(render_subscriptions(webhooks.all_subscriptions(operator())))


@webhooks_group.command("show")
@click.argument("subscription_id")
def show(subscription_id: str) -> None:
    """One subscription."""
    with _operating():
        _echo(render_subscription(webhooks.load(operator(), subscription_id)))


@webhooks_group.command("update")
@click.argument("subscription_id")
@click.option("--url", default=None)
@click.option("--event", "types", multiple=True, help="Replaces the event types.")
@click.option("--description", default=None)
@click.option("--pause/--resume", "paused", default=None)
def update(subscription_id: str, url: str | None, types: tuple[str, ...],
           description: str | None, paused: bool | None) -> None:
    """Change a subscription's URL, event types or description; pause or resume it."""
    data: dict[str, Any] = {key: value for key, value in (
        ("url", url), ("description", description), ("paused", paused)) if value is not None}
    if types:
        data["events"] = list(types)
    with _operating():
        principal = operator()
        row = webhooks.update(principal, webhooks.load(principal, subscription_id), data, _ANY)
        _echo(render_subscription(row))


@webhooks_group.command("delete")
@click.argument("subscription_id")
def delete(subscription_id: str) -> None:
    """Unsubscribe (the deliveries still owed go too)."""
    with _operating():
        principal = operator()
        webhooks.delete(principal, webhooks.load(principal, subscription_id), None)
    click.echo(f"deleted: {subscription_id}")


@webhooks_group.command("deliveries")
@click.argument("subscription_id")
@click.option("--status", default=None, help="pending|delivered|dead")
@click.option("--limit", default="100", show_default=True)
def deliveries(subscription_id: str, status: str | None, limit: str) -> None:
    """A subscription's latest deliveries (``--status dead``: its dead letters)."""
    query = {"limit": limit, **({"status": status} if status else {})}
    with _operating():
        principal = operator()
        row = webhooks.load(principal, subscription_id)
        _echo(render_deliveries(row, webhooks.deliveries(
            principal, row, query, max_limit=current_app.config["ACCOUNTAPPS_MAX_LIMIT"])))


@webhooks_group.command("redeliver")
@click.argument("subscription_id")
@click.option("--delivery", "delivery_ids", multiple=True, type=int,
              help="A delivery to send again (default: every dead letter).")
def redeliver(subscription_id: str, delivery_ids: tuple[int, ...]) -> None:
    """Deliver again: the deliveries named, or every dead letter."""
    with _operating():
        principal = operator()
        row = webhooks.load(principal, subscription_id)
        count = webhooks.redeliver(principal, row, list(delivery_ids) or None)
    click.echo(f"redelivering: {count}")


# --- a receiver for trying it out -------------------------------------------------

def receiver(secret: str, on_delivery: Callable[[dict[str, Any], dict[str, str]], None],
             fail_first: int = 0) -> type[BaseHTTPRequestHandler]:
    """A request handler that verifies each POST's signature with ``standardwebhooks``.

    A verified delivery is passed to ``on_delivery(payload, headers)`` and
    answered ``204``; a bad signature ``401``. ``fail_first``: answer ``503`` to
    that many verified deliveries first (to watch the retries).
    """
    verifier = Webhook(secret)
    failures = {"left": fail_first}
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {key.lower(): value for key, value in self.headers.items()}
            try:
                payload = verifier.verify(body, headers)
            except WebhookVerificationError:
                self.send_response(401)
                self.end_headers()
                return
            with lock:
                fail = failures["left"] > 0
                failures["left"] -= 1 if fail else 0
            if not fail:
                on_delivery(payload, headers)
            self.send_response(503 if fail else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass  # each verified delivery is printed instead

    return Handler


@webhooks_group.command("listen")
@click.option("--port", type=click.IntRange(1, 65535), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--secret", required=True, help="The subscription's whsec_... secret.")
@click.option("--count", type=click.IntRange(min=1), default=None,
              help="Exit after this many verified deliveries.")
@click.option("--fail-first", type=click.IntRange(min=0), default=0,
              help="Answer 503 to this many deliveries first (see the retries).")
def listen(port: int, host: str, secret: str, count: int | None, fail_first: int) -> None:
    """A webhook receiver: prints each delivery whose signature verifies, one JSON line each."""
    received = threading.Semaphore(0)

    def show(payload: dict[str, Any], headers: dict[str, str]) -> None:
        click.echo(json.dumps({"verified": True, "webhook-id": headers["webhook-id"],
                               "type": payload["type"], "resource": payload["data"]["resource"]
                               ["_id"], "state": payload["data"]["summary"].get("state")}))
        sys.stdout.flush()
        received.release()

    server = ThreadingHTTPServer((host, port), receiver(secret, show, fail_first))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    click.echo(f"listening on http://{host}:{port}/", err=True)
    try:
        for _seen in range(count) if count else iter(int, 1):
            received.acquire()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
