"""The reference's ``errorResponse`` and the one handler for every error."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, request
from peewee import DataError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from accountapps.domain.errors import ApiError, field_error, validation_error
from accountapps.web import hal

log = logging.getLogger("accountapps.errors")  # a stable name for operators' log filters

#: Error ``type`` for plain HTTP errors raised by Flask/werkzeug.
_HTTP_TYPES = {
    400: "badRequest",
    401: "unauthorized",
    403: "forbidden",
    404: "notFound",
    405: "methodNotAllowed",
    406: "notAcceptable",
    409: "conflict",
    412: "preconditionFailed",
    413: "requestBodyTooLarge",
    414: "requestUriTooLong",
    415: "unsupportedMediaType",
    417: "expectationFailed",
    422: "unprocessableEntity",
    428: "preconditionRequired",
    429: "tooManyRequests",
    431: "requestHeaderFieldsTooLarge",
    500: "internalError",
    503: "serviceUnavailable",
}


def flatten_messages(messages: Any, prefix: str = "") -> list[dict]:
    """Turn marshmallow/webargs nested messages into one field error per leaf."""
    out: list[dict] = []
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix or "body"
            out.extend(flatten_messages(value, name))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        for message in messages:
            out.append(field_error(prefix or "body", message))
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            out.extend(flatten_messages(value, f"{prefix}[{index}]"))
    else:
        out.append(field_error(prefix or "body", str(messages)))
    return out


def http_error_type(status: int) -> str:
    """The ``_error.type`` of an HTTP status the service answers without a type of its own."""
    return _HTTP_TYPES.get(status, "httpError")


#: An errorResponse lists at most this many nested errors, and no more than
#: :data:`NESTED_ERRORS_BYTES` of them: a small bad body (an array of thousands
#: of bad items, thousands of unknown keys) must not produce a huge answer. The
#: count of all of them is in ``attributes.errorCount``.
MAX_NESTED_ERRORS = 50
NESTED_ERRORS_BYTES = 48 * 1024
#: Longest text kept in an error's values: a field name may echo a long key.
MAX_ERROR_TEXT = 1024


def _clipped(value: Any, limit: int = MAX_ERROR_TEXT) -> Any:
    """``value`` with every string longer than ``limit`` cut (and marked with …)."""
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit - 1] + "…"
    if isinstance(value, Mapping):
        return {_clipped(str(key), 256): _clipped(item, limit) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_clipped(item, limit) for item in value[:MAX_NESTED_ERRORS]]
    return value


def _nested_errors(error: ApiError) -> list[dict[str, Any]]:
    """The nested errors an errorResponse lists: the first ones, within the bounds."""
    shown: list[dict[str, Any]] = []
    size = 0
    for nested in (error.errors or [])[:MAX_NESTED_ERRORS]:
        item = {"statusCode": error.status, **_clipped(nested)}
        size += len(hal.dumps(item))
        if shown and size > NESTED_ERRORS_BYTES:
            break
        shown.append(item)
    return shown


def error_body(error: ApiError, *, request_id: str | None = None,
               profile: str | None = None) -> dict[str, Any]:
    """The ``errorResponse`` document of an error (the request's id and profile URI
    unless given: outside a request, for gunicorn's refusals, whose links are
    relative to the host).

    However many nested errors ``error`` carries, the document stays small: it
    lists the first :data:`MAX_NESTED_ERRORS` (within :data:`NESTED_ERRORS_BYTES`)
    and says how many there were (``attributes.errorCount``) and how many are
    listed (``attributes.errorsListed``); long texts are cut.
    """
    message = _clipped(error.message, 4 * MAX_ERROR_TEXT)
    attributes = _clipped(error.attributes) if error.attributes else {}
    nested = _nested_errors(error) if error.errors else []
    if error.errors and len(nested) < len(error.errors):
        total = len(error.errors)
        attributes = {**attributes, "errorCount": total, "errorsListed": len(nested)}
        message = (f"{message} The first {len(nested)} of its {total} errors are listed; "
                   f"{total - len(nested)} are omitted.")
    body: dict[str, Any] = {
        "_id": request_id or getattr(g, "request_id", None) or "unknown",
        "message": message,
        "statusCode": error.status,
        "type": error.type,
        "occurredAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"),
    }
    if attributes:
        body["attributes"] = attributes
    if error.remediation:
        body["remediation"] = error.remediation
    if nested:
        body["_embedded"] = {"errors": nested}
    described = f"/errors/{error.type}"
    body["_links"] = {"describedby": hal.link(
        hal.BASE_PATH + described if profile else hal.api_url(described))}
    return {"_profile": profile or hal.profile("errorResponse"), "_error": body}


def error_response(error: ApiError) -> Response:
    """Render an :class:`ApiError` as a HAL response."""
    response = hal.response(error_body(error), error.status)
    for name, value in error.headers.items():
        response.headers[name] = value
    return response


def _from_http(exc: HTTPException) -> ApiError:
    status = exc.code or 500
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if messages:  # webargs/flask-smorest validation: request not well formed
        errors: list[dict] = []
        for fields in messages.values():
            errors.extend(flatten_messages(fields))
        return validation_error(errors, 400)
    description = exc.description if status < 500 else "An internal error occurred."
    headers = {}
    if status == 405 and hasattr(exc, "valid_methods") and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    retry_after = getattr(exc, "retry_after", None)
    if retry_after:
        headers["Retry-After"] = str(retry_after)
    return ApiError(status, http_error_type(status), description or "Error",
                    headers=headers)


def database_unavailable() -> ApiError:
    """``503``: the database cannot be reached or the connection was lost (retryable)."""
    return ApiError(503, "databaseUnavailable", "The service's database is not available.",
                    remediation="Retry later.", headers={"Retry-After": "5"})


def register(app: Flask) -> None:
    """Make every error, including unknown paths and crashes, an errorResponse."""

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError) -> Response:
        return error_response(error)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return error_response(_from_http(exc))

    @app.errorhandler(DataError)
    def _out_of_range(exc: DataError) -> Response:
        # A value the database cannot hold (too long, out of range) that slipped
        # past validation: the client's input, so a 422 — and a warning for us.
        log.warning("value rejected by the database: %s", exc, extra={"path": request.path})
        return error_response(ApiError(
            422, "valueOutOfRange", "A value in the request is too long or out of range.",
            remediation="Shorten or correct the values you sent.",
        ))

    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _database_unavailable(exc: Exception) -> Response:
        # The connection was lost mid-request (a restarted server), or SQLite
        # stayed locked past its busy timeout: a 503 the client can act on, not
        # a 500. Retrying is safe: writes are conditional (If-Match) or refused
        # as duplicates (one application in progress per user).
        log.warning("database unavailable: %s", exc, extra={"path": request.path})
        return error_response(database_unavailable())

    @app.errorhandler(Exception)
    def _crash(exc: Exception) -> Response:
        # The details go to the log under the request id, never to the client.
        log.exception("unhandled error", extra={"path": request.path})
        return error_response(ApiError(
            500, "internalError", "An internal error occurred.",
            remediation="Retry later; quote the error _id to support if it persists.",
        ))
