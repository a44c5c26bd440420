"""A real HTTP receiver of webhooks for the tests, verifying with ``standardwebhooks``.

It runs ``http.server`` in a thread on a free loopback port, verifies every
delivery's signature with the stock Standard Webhooks library, and records
what arrived. ``answer(payload) -> status`` decides each answer (``204`` by
default), so a test can make it fail some deliveries; ``delay`` makes it slow.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Arrival:
    """One request the receiver got."""

    webhook_id: str
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    payload: Any
    status: int


@dataclass
class Receiver:
    """A webhook receiver on ``url`` (start with :meth:`start`, stop with :meth:`stop`)."""

    secret: str | None = None
    answer: Callable[[Any], int] = lambda _payload: 204
    delay: float = 0.0
    arrivals: list[Arrival] = field(default_factory=list)
    in_flight: dict[str, int] = field(default_factory=dict)
    most_in_flight_per_id: int = 0
    path: str = "/hooks"

    def start(self) -> Receiver:
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real receivers do

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the sender died mid-request: nothing was delivered
                    self.close_connection = True
                    return
                headers = {key.lower(): value for key, value in self.headers.items()}
                webhook_id = headers.get("webhook-id", "")
                with lock:
                    receiver.in_flight[webhook_id] = receiver.in_flight.get(webhook_id, 0) + 1
                    receiver.most_in_flight_per_id = max(receiver.most_in_flight_per_id,
                                                         receiver.in_flight[webhook_id])
                try:
                    if receiver.delay:
                        time.sleep(receiver.delay)
                    try:
                        payload = Webhook(receiver.secret).verify(body, headers)
                        verified = True
                    except (WebhookVerificationError, TypeError, ValueError):
                        payload, verified = json.loads(body or b"null"), False
                    status = receiver.answer(payload) if verified else 401
                    with lock:
                        receiver.arrivals.append(Arrival(
                            webhook_id, self.path, headers, body, verified, payload, status))
                finally:
                    with lock:
                        receiver.in_flight[webhook_id] -= 1
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", f"http://127.0.0.1:{self.server.server_port}"
                                                 "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,),
                                       daemon=True)
        self.thread.start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}{self.path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def delivered(self) -> list[Arrival]:
        """The verified deliveries that were answered 2xx, in arrival order."""
        return [a for a in self.arrivals if a.verified and 200 <= a.status < 300]

    def delivered_ids(self) -> list[str]:
        return [a.webhook_id for a in self.delivered()]

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Arrival]:
        """Wait until ``count`` distinct events were delivered; return the deliveries."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(set(self.delivered_ids())) >= count:
                return self.delivered()
            time.sleep(0.02)
        raise AssertionError(f"{len(set(self.delivered_ids()))} of {count} delivered")
