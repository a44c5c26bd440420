"""Abuse limits: request body size and per-client request rates.

* Bodies larger than ``ACCOUNTAPPS_MAX_BODY_BYTES`` are ``413``: refused from
  the ``Content-Length`` before anything is read, and cut off while reading a
  chunked body (werkzeug's ``MAX_CONTENT_LENGTH`` limit on the input stream).
* Rate limits (:func:`init_app`): per user of a client application, optionally
  per client application, and per client address for requests without valid
  credentials (each empty setting disables its limit), across the whole API
  but the health probes. Counts live in ``ACCOUNTAPPS_RATE_LIMIT_STORAGE_URI``:
  ``memory://`` is per process (:class:`LocalRateLimiter`), so several workers
  or hosts need shared storage (``redis://host:6379``, :class:`SharedRateLimiter`).
  Exceeding a limit is ``429`` with ``Retry-After``, as an errorResponse.
  The reasoning behind the defaults: docs/security.md.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import json
import logging
import math
import threading
import time
from typing import Any

from flask import Flask, Request, current_app
from gunicorn.http.errors import ParseException
from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from accountapps.auth.security import identify
from accountapps.domain.errors import ApiError
from accountapps.web import hooks

log = logging.getLogger("accountapps.web.limits")


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


def _refuse_declared_too_large(current: Request, _context: Any) -> None:
    """Before each request, ahead of everything that reads: a declared size over the limit."""
    if "CONTENT_LENGTH" not in current.environ:
        return  # no declared size (a GET, or a chunked body: read_body bounds it)
    length = current.content_length
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


# --- rate limits ------------------------------------------------------------------

#: Who spent a budget, in the 429's words.
_REFUSALS = {
    "user": "You have sent too many requests",
    "client": "This client application has sent too many requests",
    "address": "Too many requests without valid credentials came from your address",
}


def too_many_requests(limit: str, retry_after: int, budget: str = "user") -> ApiError:
    """``429``: ``budget`` (``user``, ``client`` or ``address``) spent its ``limit``;
    retry in ``retry_after`` s."""
    return ApiError(
        429, "tooManyRequests", f"{_REFUSALS[budget]}; retry after the time given.",
        attributes={"limit": limit, "budget": budget},
        remediation=f"Wait {retry_after} seconds before retrying.",
        headers={"Retry-After": str(retry_after)},
    )


def address_key(address: str | None) -> str:
    """The budget of an address: itself for IPv4, its /64 network for IPv6 (one
    subscriber holds a whole /64, and would otherwise have billions of budgets)."""
    try:
        ip = ipaddress.ip_address(address or "")
    except ValueError:
        return address or "unknown"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def _is_limited_endpoint(endpoint: str | None) -> bool:
    # Requests that match no route (404/405) spend nothing; nor do health probes.
    if not endpoint or endpoint.rsplit(".", 1)[-1] == "static":
        return False
    view = current_app.view_functions.get(endpoint)
    return not getattr(view, "probe", False)  # health probes: http.probe


# Storage counted in this process by LocalRateLimiter; any other is shared (limits).
LOCAL_STORAGE = ("memory://",)


class LocalRateLimiter:
    """Fixed windows counted in this process, for ``memory://`` storage.

    The semantics are the ``limits`` library's fixed window (as with shared
    storage): a key's window opens at its first request and lasts the limit's
    period; every request in it counts (refused ones too); limits are checked
    shortest period first, and the first one exceeded refuses the request,
    retry after its window closes.
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


#: How long a process counts for itself after the shared storage failed, before
#: it tries the storage again.
STORAGE_RETRY_SECONDS = 10.0


class SharedRateLimiter:
    """Fixed windows counted in shared storage (``redis://``, ``memcached://``), so
    that every worker and host spends one budget.

    When the storage cannot be reached, this process counts for itself (as
    ``memory://`` does) rather than fail requests, logs it, and tries the
    storage again after :data:`STORAGE_RETRY_SECONDS`.
    """

    def __init__(self, items: list[RateLimitItem], storage_uri: str, budget: str) -> None:
        self._items = sorted(items)
        self._limiter = FixedWindowRateLimiter(storage_from_string(storage_uri))
        self._budget = budget
        self._fallback = LocalRateLimiter(items)
        self._retry_at = 0.0

    def hit(self, key: str) -> tuple[str, int] | None:
        """As :meth:`LocalRateLimiter.hit`, counted in the shared storage."""
        if time.monotonic() >= self._retry_at:
            try:
                return self._hit_shared(key)
            except Exception as exc:  # any storage driver's connection errors
                log.warning("rate-limit storage unavailable (%s): counting in this process "
                            "for %s s", exc, STORAGE_RETRY_SECONDS)
                self._retry_at = time.monotonic() + STORAGE_RETRY_SECONDS
        return self._fallback.hit(key)

    def _hit_shared(self, key: str) -> tuple[str, int] | None:
        for item in self._items:
            if not self._limiter.hit(item, "accountapps", self._budget, key):
                reset = self._limiter.get_window_stats(item, "accountapps", self._budget,
                                                       key).reset_time
                return str(item), max(1, math.ceil(reset - time.time()))
        return None


@functools.lru_cache(maxsize=4096)
def _user_key(client_id: str | None, user_id: str) -> str:
    """The budget of one user of one client application (kept for the callers seen last)."""
    return json.dumps([client_id, user_id])


def _limiter(app: Flask, setting: str, budget: str) -> LocalRateLimiter | SharedRateLimiter | None:
    rate = (app.config.get(setting) or "").strip()
    if not rate:
        return None
    try:
        items = parse_many(rate)
    except ValueError as exc:
        raise ValueError(f"{setting} must be a rate such as 600/minute or "
                         f"10/second;600/hour, not {rate!r}") from exc
    storage = app.config["ACCOUNTAPPS_RATE_LIMIT_STORAGE_URI"]
    if storage.startswith(LOCAL_STORAGE):
        return LocalRateLimiter(items)
    return SharedRateLimiter(items, storage, budget)


def init_app(app: Flask) -> None:
    """Install the body-size check and the rate limits that are configured.

    Three budgets, so that nobody can spend another's: each user of each client
    application (``ACCOUNTAPPS_RATE_LIMIT``), optionally each client application
    as a whole (``ACCOUNTAPPS_RATE_LIMIT_CLIENT``), both counting authenticated
    requests only; and each client address (``ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS``)
    for requests without valid credentials, failed ones included. An anonymous
    caller, even one holding a public app's API key, spends only its address's
    budget. Health probes spend nothing (:func:`accountapps.web.http.probe`).
    """
    hooks.before(app, _refuse_declared_too_large)
    user = _limiter(app, "ACCOUNTAPPS_RATE_LIMIT", "user")
    client = _limiter(app, "ACCOUNTAPPS_RATE_LIMIT_CLIENT", "client")
    anonymous = _limiter(app, "ACCOUNTAPPS_RATE_LIMIT_ANONYMOUS", "address")
    if user is None and client is None and anonymous is None:
        return

    def _rate_limit(current: Request, _context: Any) -> None:
        if not _is_limited_endpoint(current.endpoint):
            return
        # Before the caller check, so that refused callers count too; who spends
        # what is decided by the same credentials check (done once per request).
        principal = identify()
        refused = None
        if principal is None:
            if anonymous is not None:
                refused = anonymous.hit(address_key(current.remote_addr))
                budget = "address"
        else:
            if user is not None:
                refused = user.hit(_user_key(principal.client_id, principal.user_id))
                budget = "user"
            if refused is None and client is not None:
                refused = client.hit(principal.client_id or "")
                budget = "client"
        if refused:
            raise too_many_requests(*refused, budget)

    hooks.before(app, _rate_limit)
