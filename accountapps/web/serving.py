"""gunicorn integration: JSON lines for gunicorn's own logs, JSON for its refusals.

``gunicorn.conf.py`` names :class:`JsonLogger` as ``logger_class``. Every
access line is one JSON object with the request id the service put in the
``X-Request-ID`` response header, so the load balancer's, gunicorn's and the
application's log lines of one request can be joined. It also carries the
user and client the service identified, so that under gunicorn it is the one
access log (``gunicorn.conf.py`` turns the application's own line off).

:class:`ThreadWorker` (``gunicorn.conf.py``'s ``worker_class``) is gunicorn's
gthread worker, except that its event loop reads each request whole before a
thread serves it (clients that send slowly hold no thread; docs/security.md),
and that a request gunicorn's HTTP parser refuses (broken framing, an
oversized header) is answered with the service's errorResponse JSON, a request
id and the security headers, never gunicorn's HTML page.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import logging
import os
import selectors
import socket
import time
import traceback
from http import HTTPStatus
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.glogging import Logger
from gunicorn.http import wsgi as gunicorn_wsgi
from gunicorn.http2 import negotiation
from gunicorn.workers.gthread import TConn
from gunicorn.workers.gthread import ThreadWorker as GThreadWorker

from accountapps.domain.errors import ApiError
from accountapps.web import hal
from accountapps.web.errors import error_body, http_error_type
from accountapps.web.http import SECURITY_HEADERS
from accountapps.web.limits import body_too_large
from accountapps.web.logs import JsonFormatter, new_request_id


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


def write_error_response(sock: Any, error: ApiError, reason: str | None = None) -> None:
    """Write ``error`` as a complete errorResponse (``Connection: close``) on ``sock``.

    For answers given before the service sees a request (gunicorn's refusals,
    the read-ahead's :class:`ThreadWorker` refusals): the error carries a
    request id of its own and a relative ``_profile`` (no ``Host`` could be
    trusted), with the service's security headers.
    """
    request_id = new_request_id()
    body = hal.dumps(error_body(error, request_id=request_id,
                                profile=hal.profile_path("errorResponse")))
    reason = reason or HTTPStatus(error.status).phrase
    headers = [
        f"HTTP/1.1 {error.status} {reason}", "Connection: close",
        f"Content-Type: {hal.MEDIA_TYPE}", f"Content-Length: {len(body)}",
        f"X-Request-ID: {request_id}",
        *(f"{name}: {value}" for name, value in SECURITY_HEADERS.items()),
        *(f"{name}: {value}" for name, value in error.headers.items()),
    ]
    gunicorn_util.write_nonblock(
        sock, ("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body)


def write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """gunicorn's answer to a request its HTTP parser refused, as an errorResponse.

    Replaces ``gunicorn.util.write_error`` (an HTML page) in :class:`ThreadWorker`
    processes: a malformed request line, broken framing, a header over the size
    limits.
    """
    write_error_response(sock, ApiError(status_int, http_error_type(status_int), mesg or reason),
                         reason)


#: Answers after which the connection closes, and says so (``Connection: close``):
#: the service did not read the request's body, so the connection cannot serve
#: another request (RFC 9110 §15.5.14).
CLOSE_AFTER = frozenset({413})


class _Response(gunicorn_wsgi.Response):
    """gunicorn's HTTP/1 response, closing the connection after :data:`CLOSE_AFTER`
    answers (gunicorn would announce ``keep-alive``, then close anyway)."""

    def start_response(self, status: str, headers: Any, exc_info: Any = None) -> Any:
        write = super().start_response(status, headers, exc_info)
        if self.status_code in CLOSE_AFTER:
            self.force_close()
        return write


class _JsonErrors:
    """Mix-in: answer gunicorn's own refusals with :func:`write_json_error`."""

    def init_process(self) -> None:
        # This process only (a worker): every refusal gunicorn writes is JSON, and
        # every response closes its connection after a 413.
        gunicorn_util.write_error = write_json_error
        gunicorn_wsgi.Response = _Response
        super().init_process()  # type: ignore[misc]


def _seconds(name: str, default: float) -> float:
    return float(os.environ.get(name, "") or default)


#: Longest wait, in seconds, for the next bytes of a request (or for a client to
#: take the next bytes of its answer) once a worker thread serves it. With the
#: read-ahead (:class:`ThreadWorker`) a thread reads a request only when it was
#: not read ahead (TLS in gunicorn itself, HTTP/2); it bounds a slow reader of
#: an answer too.
READ_TIMEOUT_SECONDS = _seconds("GUNICORN_READ_TIMEOUT", 15)
#: Longest time, in seconds, a client may take to send a whole request (head and
#: body) from its first byte; then it is answered ``408`` and the connection closed.
REQUEST_READ_TIMEOUT_SECONDS = _seconds("GUNICORN_REQUEST_READ_TIMEOUT", 20)
#: A request head larger than this is ``431`` (gunicorn's own limits still apply
#: to each line and the number of fields).
MAX_HEAD_BYTES = 64 * 1024
#: How long a closed connection may still send (its bytes are read and dropped, so
#: that the kernel does not reset the connection over an answer not yet read).
LINGER_SECONDS = 2.0
LINGER_MAX_BYTES = 64 * 1024


# --- reading a request ahead, in the event loop -----------------------------------------

MORE, COMPLETE, HEAD_TOO_LARGE, BODY_TOO_LARGE = "more", "complete", "headTooLarge", "bodyTooLarge"


class RequestReader:
    """Where a request read from a socket ends, known from its bytes so far.

    Only framing is looked at: the end of the head, then ``Content-Length`` bytes
    or ``chunked`` framing up to the last chunk and its trailers. Anything this
    does not understand (a repeated or malformed length, another transfer
    coding) ends the read at the head: gunicorn's parser, which sees every byte
    read here, makes the decision and the refusal.
    """

    def __init__(self, max_head: int, max_body: int) -> None:
        self.data = bytearray()
        self.max_head = max_head
        self.max_body = max_body
        self.expects_continue = False  # the client waits for 100 Continue before its body
        self._start = 0  # where the request line starts
        self._searched = 0  # where the search for the head's end goes on
        self._head_end: int | None = None
        self._length: int | None = None  # the body's declared length; None: chunked
        self._chunk_at = 0  # chunked: where the next chunk-size line starts
        self._chunked_bytes = 0

    def feed(self, chunk: bytes) -> str:
        """Add ``chunk``; :data:`MORE` until the request is whole (:data:`COMPLETE`)
        or refused (:data:`HEAD_TOO_LARGE`, :data:`BODY_TOO_LARGE`)."""
        self.data += chunk
        if self._head_end is None:
            state = self._head()
            if state is not None:
                return state
        if self._length is not None:
            return COMPLETE if len(self.data) >= self._head_end + self._length else MORE
        return self._chunks()

    def _head(self) -> str | None:
        data = self.data
        # Empty lines before the request line are skipped (RFC 9112 §2.2).
        while data.startswith(b"\r\n", self._start):
            self._start += 2
        end = data.find(b"\r\n\r\n", max(self._start, self._searched - 3))
        if end < 0:
            self._searched = len(data)
            return HEAD_TOO_LARGE if len(data) > self.max_head else MORE
        if end + 4 > self.max_head:
            return HEAD_TOO_LARGE
        self._head_end = end + 4
        return self._framing(bytes(data[self._start:end]))

    def _framing(self, head: bytes) -> str | None:
        lines = head.split(b"\r\n")
        fields: dict[bytes, list[bytes]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            fields.setdefault(name.strip().lower(), []).append(value.strip())
        lengths = fields.get(b"content-length", [])
        codings = fields.get(b"transfer-encoding", [])
        expect = [value.lower() for value in fields.get(b"expect", [])]
        self.expects_continue = expect == [b"100-continue"] and lines[0].endswith(b"HTTP/1.1")
        if codings:
            if lengths or b",".join(codings).split(b",")[-1].strip().lower() != b"chunked":
                return self._complete()  # gunicorn refuses it (or knows better)
            self._chunk_at = self._head_end
            return None
        if not lengths:
            return self._complete()  # no body
        if len(set(lengths)) > 1 or not lengths[0].isdigit() or len(lengths[0]) > 18:
            return self._complete()  # gunicorn refuses it
        length = int(lengths[0])
        if length > self.max_body:
            return BODY_TOO_LARGE
        self._length = length
        return None

    def _complete(self) -> str:
        self._length = 0
        return COMPLETE

    def _chunks(self) -> str:
        data = self.data
        at = self._chunk_at
        while True:
            line_end = data.find(b"\r\n", at)
            if line_end < 0:
                return MORE if len(data) - at <= 1024 else COMPLETE  # gunicorn refuses it
            size_text = bytes(data[at:line_end]).split(b";", 1)[0].strip()
            if not size_text or len(size_text) > 16 or size_text.strip(
                    b"0123456789abcdefABCDEF"):
                return COMPLETE  # not a chunk size: gunicorn refuses it
            size = int(size_text, 16)
            if size == 0:  # the last chunk, then trailer fields and an empty line
                if data.find(b"\r\n\r\n", line_end) >= 0:
                    return COMPLETE
                return MORE if len(data) - line_end <= self.max_head else COMPLETE
            self._chunked_bytes += size
            if self._chunked_bytes > self.max_body:
                return BODY_TOO_LARGE
            following = line_end + 2 + size + 2
            if len(data) < following:
                self._chunk_at = at
                return MORE
            at = self._chunk_at = following


class _Reading:
    """A connection whose request is being read ahead, and by when it must be whole."""

    __slots__ = ("continued", "deadline", "reader")

    def __init__(self, reader: RequestReader, deadline: float) -> None:
        self.reader = reader
        self.deadline = deadline
        self.continued = False  # 100 Continue sent


class _Connection(TConn):
    """gthread's connection, whose graceful close lingers in the event loop (gthread's
    own waits there, blocking the loop, for up to 2 s per closed connection)."""

    def __init__(self, worker: ThreadWorker, *args: Any) -> None:
        super().__init__(*args)
        self.worker = worker
        self.preread = b""  # the request, read ahead (handed to the parser)
        self.continued = False

    def close(self, graceful: bool = False) -> None:
        if graceful:
            self.worker.linger(self.sock)
        else:
            super().close()


class ThreadWorker(_JsonErrors, GThreadWorker):
    """gunicorn's ``gthread`` worker with errorResponse refusals (``gunicorn.conf.py``),
    reading each request ahead in its event loop.

    gthread hands a connection to a thread as soon as its first bytes arrive, and
    the thread then waits for the rest: clients that send their request a byte
    every few seconds each hold a thread, and a few dozen of them stop the
    service. Here the event loop (one per worker, never blocked) reads each
    request whole, head and body, before a thread is taken; a request not whole
    :data:`REQUEST_READ_TIMEOUT_SECONDS` after its first byte is ``408``, a head
    over :data:`MAX_HEAD_BYTES` ``431``, a body over ``ACCOUNTAPPS_MAX_BODY_BYTES``
    ``413``. Threads only ever run requests that are complete. (Without TLS in
    gunicorn itself and without HTTP/2: those connections are served as gthread
    serves them, each read bounded by :data:`READ_TIMEOUT_SECONDS`.)

    A worker whose threads all run a request accepts no new connection until
    one is free: the kernel keeps it for a worker that can serve it now (gthread
    accepts it anyway, and its request waits for this worker's threads while
    another worker idles). Connections being read take no thread, so slow
    clients do not stop a worker accepting.
    """

    def init_process(self) -> None:
        self._reading: dict[TConn, _Reading] = {}
        self._lingering: dict[Any, list[float]] = {}  # socket -> [deadline, bytes drained]
        self._max_body: int | None = None
        self._running = 0  # requests handed to the threads and not finished
        super().init_process()

    # --- the event loop (main thread) ---------------------------------------------------

    def set_accept_enabled(self, enabled: bool) -> None:
        """gthread's, but never while every thread runs a request."""
        super().set_accept_enabled(enabled and self._running < self.cfg.threads)

    def _hand_to_thread(self, conn: Any) -> None:
        self._running += 1
        if self._running >= self.cfg.threads:
            self.set_accept_enabled(False)
        super().enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """gthread's, and accepting again when a thread comes free."""
        self._running -= 1
        super().finish_request(conn, fs)
        if self.alive:
            self.set_accept_enabled(self.nr_conns < self.worker_connections)

    def accept(self, listener: Any) -> None:
        """gthread's accept, with a connection that lingers in the loop when closed."""
        if not self._accepting:  # turned off by an event of the same wake-up
            return
        try:
            client_sock, client_addr = listener.accept()
        except OSError as exc:
            if exc.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        client_sock.setblocking(True)
        self.enqueue_req(_Connection(self, self.cfg, client_sock, client_addr,
                                     listener.getsockname()))

    def enqueue_req(self, conn: Any) -> None:
        """Read ``conn``'s next request whole in the loop, then hand it to a thread."""
        if self.cfg.is_ssl or conn.is_http2 or not isinstance(conn, _Connection) or (
                negotiation.prior_knowledge_allowed(self.cfg, conn.client)):
            self._hand_to_thread(conn)
            return
        reader = RequestReader(MAX_HEAD_BYTES, self._max_body_bytes())
        idle = self.cfg.keepalive or REQUEST_READ_TIMEOUT_SECONDS
        reading = self._reading[conn] = _Reading(reader, time.monotonic() + idle)
        conn.sock.setblocking(False)
        # Bytes of this request a previous read took (pipelining) come first.
        ahead = conn.parser.unreader.take_buffered() if conn.parser is not None else b""
        if ahead and self._advance(conn, reading, reader.feed(ahead)):
            return
        self.poller.register(conn.sock, selectors.EVENT_READ,
                             functools.partial(self._on_readable, conn))

    def _on_readable(self, conn: _Connection, _sock: Any) -> None:
        reading = self._reading[conn]
        try:
            chunk = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        if not chunk:  # the client went away
            self._stop_reading(conn)
            self.nr_conns -= 1
            conn.close()
            return
        started = bool(reading.reader.data)
        state = reading.reader.feed(chunk)
        if not started:  # the first byte: the whole request must follow in time
            reading.deadline = time.monotonic() + REQUEST_READ_TIMEOUT_SECONDS
        if self._advance(conn, reading, state, registered=True):
            return
        if reading.reader.expects_continue and not reading.continued:
            reading.continued = conn.continued = True
            with contextlib.suppress(OSError):
                conn.sock.send(b"HTTP/1.1 100 Continue\r\n\r\n")

    def _advance(self, conn: _Connection, reading: _Reading, state: str,
                 registered: bool = False) -> bool:
        """Act on the read's ``state``: hand a whole request on, or refuse it. True when done."""
        if state == MORE:
            return False
        self._stop_reading(conn, registered)
        if state == HEAD_TOO_LARGE:
            self._refuse(conn, ApiError(431, "requestHeaderFieldsTooLarge",
                                        f"The request head is larger than the {MAX_HEAD_BYTES} "
                                        "bytes this service accepts."))
        elif state == BODY_TOO_LARGE:
            self._refuse(conn, body_too_large(reading.reader.max_body))
        else:
            conn.preread = bytes(reading.reader.data)
            conn.data_ready = True
            self._hand_to_thread(conn)
        return True

    def _stop_reading(self, conn: _Connection, registered: bool = True) -> None:
        self._reading.pop(conn, None)
        if registered:
            with contextlib.suppress(KeyError, ValueError, OSError):
                self.poller.unregister(conn.sock)

    def _refuse(self, conn: _Connection, error: ApiError) -> None:
        """Answer ``error`` from the loop and close the connection."""
        with contextlib.suppress(OSError):
            write_error_response(conn.sock, error)
        self.nr_conns -= 1
        conn.close(graceful=True)

    def _max_body_bytes(self) -> int:
        if self._max_body is None:
            config = getattr(self.wsgi, "config", None) or {}
            self._max_body = int(config.get("ACCOUNTAPPS_MAX_BODY_BYTES")
                                 or os.environ.get("ACCOUNTAPPS_MAX_BODY_BYTES") or 256 * 1024)
        return self._max_body

    def murder_pending(self) -> None:
        """gthread's sweep of waiting connections, and of requests read too slowly."""
        super().murder_pending()
        now = time.monotonic()
        for conn, reading in list(self._reading.items()):
            started = bool(reading.reader.data)
            if not self.alive and not started:
                # Stopping: a connection that sent nothing yet gets no more time.
                reading.deadline = min(reading.deadline, now + 2.0)
            if reading.deadline > now:
                continue
            self._stop_reading(conn)
            if started:
                self._refuse(conn, ApiError(
                    408, "requestTimeout",
                    f"The request did not arrive whole within {REQUEST_READ_TIMEOUT_SECONDS:g} "
                    "seconds of its first byte.",
                    remediation="Send the whole request at once, then wait for the answer."))
            else:
                self.nr_conns -= 1
                conn.close()
        for sock, (deadline, _drained) in list(self._lingering.items()):
            if deadline <= now:
                self._end_linger(sock)

    def linger(self, sock: Any) -> None:
        """Close ``sock`` gracefully (RFC 9112 §9.6) without blocking the loop: the
        answer is sent (FIN), and what the client still sends is read and dropped
        for :data:`LINGER_SECONDS` at most, so that it receives the whole answer."""
        try:
            sock.setblocking(False)
            sock.shutdown(socket.SHUT_WR)
            self.poller.register(sock, selectors.EVENT_READ, self._on_linger_readable)
        except (OSError, ValueError, KeyError):
            gunicorn_util.close(sock)
            return
        self._lingering[sock] = [time.monotonic() + LINGER_SECONDS, 0]

    def _on_linger_readable(self, sock: Any) -> None:
        try:
            data = sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        state = self._lingering[sock]
        state[1] += len(data)
        if not data or state[1] > LINGER_MAX_BYTES:
            self._end_linger(sock)

    def _end_linger(self, sock: Any) -> None:
        self._lingering.pop(sock, None)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(sock)
        gunicorn_util.close(sock)

    # --- a worker thread ------------------------------------------------------------

    def handle(self, conn: Any) -> Any:
        """Serve ``conn`` as gthread does, from the request read ahead when there is
        one; its socket's reads and writes bounded once it is set up."""
        init = conn.init

        def init_with_deadline() -> None:
            # gthread makes the socket blocking (no deadline) just before this.
            init()
            conn.sock.settimeout(READ_TIMEOUT_SECONDS)
            if getattr(conn, "preread", b""):
                conn.parser.unreader.unread(conn.preread)
                conn.preread = b""

        conn.init = init_with_deadline
        try:
            return super().handle(conn)
        finally:
            conn.init = init

    def handle_request(self, req: Any, conn: Any) -> Any:
        """gthread's, without a second ``100 Continue`` when the loop sent one."""
        if getattr(conn, "continued", False):
            req._expected_100_continue = False
            conn.continued = False
        return super().handle_request(req, conn)
