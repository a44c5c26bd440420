"""gunicorn integration: JSON lines for gunicorn's own logs, JSON for its refusals.

``gunicorn.conf.py`` names :class:`JsonLogger` as ``logger_class``. Every
access line is one JSON object with the request id the service put in the
``X-Request-ID`` response header, so the load balancer's, gunicorn's and the
application's log lines of one request can be joined. It also carries the
user and client the service identified, so that under gunicorn it is the one
access log (``gunicorn.conf.py`` turns the application's own line off).

:class:`ThreadWorker` (``gunicorn.conf.py``'s ``worker_class``) is gunicorn's
gthread worker, except that a request gunicorn's HTTP parser refuses (broken
framing, an oversized header) is answered with the service's errorResponse
JSON, a request id and the security headers, never gunicorn's HTML page.
"""

from __future__ import annotations

import json
import logging
import os
import time
import traceback
import uuid
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.glogging import Logger
from gunicorn.workers.gthread import ThreadWorker as GThreadWorker

from accountapps.domain.errors import ApiError
from accountapps.web import hal
from accountapps.web.errors import error_body, http_error_type
from accountapps.web.http import SECURITY_HEADERS
from accountapps.web.logs import JsonFormatter


def _quiet_stalled_clients(record: logging.LogRecord) -> bool:
    """A client that stopped sending until the read deadline (:class:`ThreadWorker`)
    is the client's doing, not a server error: one INFO line, no traceback."""
    error = record.exc_info[1] if record.exc_info else None
    if isinstance(error, TimeoutError) and record.levelno >= logging.ERROR:
        record.levelno, record.levelname = logging.INFO, "INFO"
        record.msg, record.args = ("A client sent nothing for %s s mid-request; its "
                                   "connection was closed.", (READ_TIMEOUT_SECONDS,))
        record.exc_info = record.exc_text = None
    return True


class JsonLogger(Logger):
    """gunicorn's logger, writing JSON lines instead of Apache-style text."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        self.error_log.addFilter(_quiet_stalled_clients)
        for handler in self.error_log.handlers:
            handler.setFormatter(JsonFormatter())
        for handler in self.access_log.handlers:
            handler.setFormatter(logging.Formatter("%(message)s"))

    def access(self, resp: Any, req: Any, environ: dict, request_time: Any) -> None:
        """One JSON object per request (``accesslog`` must be set, e.g. ``-``)."""
        if not self.access_log_enabled:
            return
        try:
            atoms = self.atoms(resp, req, environ, request_time)
            entry = {
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "logger": "gunicorn.access",
                "requestId": atoms.get("{x-request-id}o"),
                "remoteAddr": atoms.get("h"),
                "forwardedFor": atoms.get("{x-forwarded-for}i"),
                "method": atoms.get("m"),
                "path": atoms.get("U"),
                "query": atoms.get("q") or None,
                "protocol": atoms.get("H"),
                "status": int(atoms["s"]) if str(atoms.get("s", "")).isdigit() else atoms.get("s"),
                "bytes": atoms.get("B"),
                "durationMs": round(atoms["D"] / 1000, 2),
                "userAgent": atoms.get("a"),
                # who, as the service identified them (put in the environ by logs.py)
                "userId": environ.get("accountapps.user_id"),
                "clientId": environ.get("accountapps.client_id"),
                "pid": int(atoms["p"].strip("<>")),
            }
            self.access_log.info(json.dumps(entry, separators=(",", ":")))
        except Exception:  # a log line must never break a response
            self.error(traceback.format_exc())


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request its HTTP parser refused, as an errorResponse.

    Replaces ``gunicorn.util.write_error`` (an HTML page) in :class:`ThreadWorker`
    processes: a malformed request line, broken framing, a header over the size
    limits. The request never reached the service, so the error carries a request
    id of its own and a relative ``_profile`` (no ``Host`` could be trusted), with
    the service's security headers.
    """
    request_id = uuid.uuid4().hex
    error = ApiError(status_int, http_error_type(status_int), mesg or reason)
    body = hal.dumps(error_body(error, request_id=request_id,
                                profile=hal.profile_path("errorResponse")))
    headers = [
        f"HTTP/1.1 {status_int} {reason}", "Connection: close",
        f"Content-Type: {hal.MEDIA_TYPE}", f"Content-Length: {len(body)}",
        f"X-Request-ID: {request_id}",
        *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items()),
    ]
    gunicorn_util.write_nonblock(
        sock, ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body)


class _JsonErrors:
    """Mix-in: answer gunicorn's own refusals with :func:`write_json_error`."""

    def init_process(self) -> None:
        # This process only (a worker): every refusal gunicorn writes is JSON.
        gunicorn_util.write_error = write_json_error
        super().init_process()  # type: ignore[misc]


#: Longest wait, in seconds, for the next bytes of a request (or for a client to
#: take the next bytes of its answer) once a worker thread serves it. gunicorn
#: itself has none: a client that stops sending mid-request held a thread for
#: good. Each read may wait this long, so it bounds a stalled client, not a
#: slow one: a buffering proxy in front is still the real defence.
READ_TIMEOUT_SECONDS = float(os.environ.get("GUNICORN_READ_TIMEOUT", "") or 15)


class ThreadWorker(_JsonErrors, GThreadWorker):
    """gunicorn's ``gthread`` worker, with errorResponse refusals (``gunicorn.conf.py``)
    and a deadline on each read of a request (:data:`READ_TIMEOUT_SECONDS`)."""

    def handle(self, conn: Any) -> Any:
        """Serve ``conn`` as gthread does, its socket reads bounded once it is set up."""
        init = conn.init

        def init_with_deadline() -> None:
            # gthread makes the socket blocking (no deadline) just before this.
            init()
            conn.sock.settimeout(READ_TIMEOUT_SECONDS)

        conn.init = init_with_deadline
        try:
            return super().handle(conn)
        finally:
            conn.init = init
