"""Abuse limits: request body size and per-client request rates.

* Bodies larger than ``ACCOUNTAPPS_MAX_BODY_BYTES`` are ``413``: refused from
  the ``Content-Length`` before anything is read, and cut off while reading a
  chunked body (werkzeug's ``MAX_CONTENT_LENGTH`` limit on the input stream).
* ``ACCOUNTAPPS_RATE_LIMIT`` (e.g. ``600/minute``; empty disables) is counted
  per client application (the ``API-Key``'s client; requests without a valid
  key count per remote address, so guessing keys is limited too) across the
  whole API. Counts live in ``ACCOUNTAPPS_RATE_LIMIT_STORAGE_URI``:
  ``memory://`` is per process (counted here by ``LocalRateLimiter``), so
  several workers or hosts need shared storage (``redis://host:6379``, counted
  with flask-limiter). Exceeding the limit is ``429`` with ``Retry-After``, as
  an errorResponse.
"""

from __future__ import annotations

import io
import math
import threading
import time
from typing import Any

from flask import Flask, Request, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from gunicorn.http.errors import ParseException
from limits import RateLimitItem, parse_many

from accountapps.auth.security import request_client
from accountapps.domain.errors import ApiError
from accountapps.web.errors import error_response


def body_too_large(limit: int) -> ApiError:
    """``413``: the request body is over the configured size."""
    return ApiError(
        413, "requestBodyTooLarge",
        f"The request body is larger than the {limit} bytes this service accepts.",
        attributes={"maximumBytes": limit},
    )


def incomplete_body(reason: str) -> ApiError:
    """``400``: the request body could not be read whole (cut short or malformed framing)."""
    return ApiError(
        400, "incompleteBody", f"The request body could not be read: {reason}.",
        remediation="Send the whole body, with a Content-Length equal to its size "
                    "or valid chunked framing.",
    )


#: What reading a client's body may raise when the client breaks the framing:
#: gunicorn's ``NoMoreData``, ``InvalidChunkSize`` and ``ChunkMissingTerminator``
#: are ``OSError``s, a socket timeout too; its other parse errors, and other
#: servers' errors, ``ParseException`` and ``ValueError``.
_READ_ERRORS = (OSError, ValueError, ParseException)


def _read_at_most(stream: Any, limit: int) -> bytes:
    """Up to ``limit`` bytes of ``stream``, until it ends (never more than ``limit``)."""
    chunks: list[bytes] = []
    size = 0
    try:
        while size < limit:
            chunk = stream.read(min(64 * 1024, limit - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except _READ_ERRORS as exc:
        raise incomplete_body("its framing is broken or it ended early") from exc
    return b"".join(chunks)


def _refuse_declared_too_large() -> None:
    """``before_request``, ahead of everything that reads: a declared size over the limit."""
    if "CONTENT_LENGTH" not in request.environ:
        return  # no declared size (a GET, or a chunked body: read_body bounds it)
    length = request.content_length
    limit = current_app.config["ACCOUNTAPPS_MAX_BODY_BYTES"]
    if length is not None and length > limit:
        raise body_too_large(limit)


def read_body(current: Request, _context: Any) -> None:
    """Before each request, once the caller is known: read the body whole, or refuse it.

    ``413`` when a chunked body is too large (a declared size over the limit
    was refused before the caller check), ``400`` when it is cut short. The body is
    buffered here and handed on, so that nothing downstream ever acts on part
    of a body: a client that declares more bytes than it sends and closes
    (gunicorn then reports a short read as the end) gets ``400``, and so does
    broken chunked framing (which gunicorn raises as errors). It runs after
    authentication, so that nobody without credentials makes the service
    read a body at all.
    """
    environ = current.environ
    length = current.content_length
    if length is not None:  # at most the limit: _refuse_declared_too_large
        if length == 0:
            return
        data = _read_at_most(environ["wsgi.input"], length)
        if len(data) < length:
            raise incomplete_body(f"{len(data)} of the {length} bytes declared arrived")
    elif environ.get("wsgi.input_terminated"):
        # A chunked body: werkzeug would silently cut it at the limit (and the
        # JSON would then be "invalid"): read one byte past the limit here.
        limit = current_app.config["ACCOUNTAPPS_MAX_BODY_BYTES"]
        data = _read_at_most(environ["wsgi.input"], limit + 1)
        if len(data) > limit:
            raise body_too_large(limit)
    else:
        return  # no length and no server-terminated stream: werkzeug reads nothing
    environ["wsgi.input"] = io.BytesIO(data)


def rate_limit_key() -> str:
    """Whose budget a request spends: its client application, else its address."""
    client = request_client()
    return f"client:{client}" if client else f"address:{request.remote_addr}"


def too_many_requests(limit: str, retry_after: int) -> ApiError:
    """``429``: the client spent its budget of ``limit``; retry in ``retry_after`` s."""
    return ApiError(
        429, "tooManyRequests",
        "This client has sent too many requests; retry after the time given.",
        attributes={"limit": limit},
        remediation=f"Wait {retry_after} seconds before retrying.",
        headers={"Retry-After": str(retry_after)},
    )


# Storage counted in this process by LocalRateLimiter; any other goes to flask-limiter.
LOCAL_STORAGE = ("memory://",)


def _is_limited_endpoint(endpoint: str | None) -> bool:
    # As flask-limiter: requests that match no route (404/405) spend nothing.
    return bool(endpoint) and endpoint.rsplit(".", 1)[-1] != "static"


class LocalRateLimiter:
    """Fixed windows counted in this process, for ``memory://`` storage.

    flask-limiter's memory storage starts a timer thread to expire keys on
    every hit; this is a dictionary lookup.
    The semantics are flask-limiter's fixed window: a client's window opens at
    its first request and lasts the limit's period; every request in it counts
    (refused ones too); limits are checked shortest period first, and the
    first one exceeded refuses the request, retry after its window closes.
    """

    def __init__(self, items: list[RateLimitItem]) -> None:
        self._items = [(str(item), item.amount, item.get_expiry()) for item in sorted(items)]
        # (limit index, key) -> [window end (monotonic seconds), count]
        self._windows: dict[tuple[int, str], list] = {}
        self._lock = threading.Lock()  # gthread workers share one limiter
        self._prune_every = min(expiry for _, _, expiry in self._items)
        self._next_prune = time.monotonic() + self._prune_every

    def hit(self, key: str) -> tuple[str, int] | None:
        """Count one request of ``key``: ``None``, or (limit, seconds to wait) if refused."""
        now = time.monotonic()
        with self._lock:
            if now >= self._next_prune:  # forget closed windows (keys by address are many)
                self._windows = {k: w for k, w in self._windows.items() if w[0] > now}
                self._next_prune = now + self._prune_every
            for index, (text, amount, expiry) in enumerate(self._items):
                window = self._windows.get((index, key))
                if window is None or window[0] <= now:
                    window = self._windows[(index, key)] = [now + expiry, 0]
                window[1] += 1
                if window[1] > amount:
                    return text, max(1, math.ceil(window[0] - now))
        return None


def init_app(app: Flask) -> None:
    """Install the body-size check and, when configured, the rate limiter."""
    app.before_request(_refuse_declared_too_large)
    rate = (app.config.get("ACCOUNTAPPS_RATE_LIMIT") or "").strip()
    if not rate:
        return
    storage = app.config["ACCOUNTAPPS_RATE_LIMIT_STORAGE_URI"]
    if storage.startswith(LOCAL_STORAGE):
        local = LocalRateLimiter(parse_many(rate))

        @app.before_request
        def _rate_limit() -> None:
            if _is_limited_endpoint(request.endpoint):
                refused = local.hit(rate_limit_key())
                if refused:
                    raise too_many_requests(*refused)
        return

    limiter = Limiter(
        rate_limit_key,
        application_limits=[rate],  # one budget per client over every operation
        storage_uri=storage,
        key_prefix="accountapps",
        headers_enabled=False,  # Retry-After only on 429 (see _too_many)
        # Shared storage down: count per process meanwhile (as memory:// does)
        # rather than fail every request; flask-limiter logs it and checks the
        # storage again until it is back.
        in_memory_fallback_enabled=True,
    )
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded) -> Response:
        current = limiter.current_limit
        reset_at = current.reset_at if current else time.time() + 1
        retry_after = max(1, math.ceil(reset_at - time.time()))
        return error_response(too_many_requests(str(exc.limit.limit), retry_after))
