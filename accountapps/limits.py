"""Abuse limits: request body size and per-client request rates.

* Bodies larger than ``ACCOUNTAPPS_MAX_BODY_BYTES`` are ``413``: refused from
  the ``Content-Length`` before anything is read, and cut off while reading a
  chunked body (werkzeug's ``MAX_CONTENT_LENGTH`` limit on the input stream).
* ``ACCOUNTAPPS_RATE_LIMIT`` (e.g. ``600/minute``; empty disables) is counted
  per client application (the ``API-Key``'s client; requests without a valid
  key count per remote address, so guessing keys is limited too) across the
  whole API, with flask-limiter. Counts live in
  ``ACCOUNTAPPS_RATE_LIMIT_STORAGE_URI``: ``memory://`` is per process, so
  several workers or hosts need shared storage (``redis://host:6379``).
  Exceeding the limit is ``429`` with ``Retry-After``, as an errorResponse.
"""

from __future__ import annotations

import io
import math
import time

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded

from .errors import ApiError, error_response
from .security import request_client


def body_too_large(limit: int) -> ApiError:
    """``413``: the request body is over the configured size."""
    return ApiError(
        413, "requestBodyTooLarge",
        f"The request body is larger than the {limit} bytes this service accepts.",
        attributes={"maximumBytes": limit},
    )


def _check_body_size() -> None:
    limit = current_app.config["ACCOUNTAPPS_MAX_BODY_BYTES"]
    if request.content_length is not None:
        if request.content_length > limit:
            raise body_too_large(limit)
        return
    if not request.environ.get("wsgi.input_terminated"):
        return  # no length and no server-terminated stream: werkzeug reads nothing
    # A chunked body: werkzeug would silently cut it at the limit (and the JSON
    # would then be "invalid"), so read up to one byte past the limit here and
    # hand the buffered body on.
    stream = request.environ["wsgi.input"]
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise body_too_large(limit)
    request.environ["wsgi.input"] = io.BytesIO(b"".join(chunks))


def rate_limit_key() -> str:
    """Whose budget a request spends: its client application, else its address."""
    client = request_client()
    return f"client:{client}" if client else f"address:{request.remote_addr}"


def init_app(app: Flask) -> None:
    """Install the body-size check and, when configured, the rate limiter."""
    app.before_request(_check_body_size)
    rate = (app.config.get("ACCOUNTAPPS_RATE_LIMIT") or "").strip()
    if not rate:
        return
    limiter = Limiter(
        rate_limit_key,
        application_limits=[rate],  # one budget per client over every operation
        storage_uri=app.config["ACCOUNTAPPS_RATE_LIMIT_STORAGE_URI"],
        key_prefix="accountapps",
        headers_enabled=False,  # Retry-After only on 429 (see _too_many)
    )
    limiter.init_app(app)

    @app.errorhandler(RateLimitExceeded)
    def _too_many(exc: RateLimitExceeded) -> Response:
        current = limiter.current_limit
        reset_at = current.reset_at if current else time.time() + 1
        retry_after = max(1, math.ceil(reset_at - time.time()))
        return error_response(ApiError(
            429, "tooManyRequests",
            "This client has sent too many requests; retry after the time given.",
            attributes={"limit": str(exc.limit.limit)},
            remediation=f"Wait {retry_after} seconds before retrying.",
            headers={"Retry-After": str(retry_after)},
        ))
