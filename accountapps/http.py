"""Request and response rules shared by every route: bodies, media types, headers, CORS."""

from __future__ import annotations

import json
import math
import re
from typing import Any

from flask import Flask, Response, current_app, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Blueprint as SmorestBlueprint
from webargs import core as webargs_core
from webargs.flaskparser import FlaskParser
from werkzeug.exceptions import BadRequest, NotFound

from .errors import ApiError

JSON_TYPES = {"application/json", "application/hal+json", "application/merge-patch+json"}

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "private, no-cache",
}


#: What a browser front end may send and read (CORS).
CORS_ALLOW_HEADERS = "API-Key, Authorization, Content-Type, If-Match, If-None-Match, X-Request-ID"
CORS_EXPOSE_HEADERS = "ETag, Location, X-Request-ID, Retry-After, WWW-Authenticate"
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_MAX_AGE = "600"


def _not_json(constant: str) -> float:
    raise ValueError(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e400: too large for a float, read as infinity
        raise ValueError(f"{text[:32]} is out of range")
    return value


class RequestJSON(DefaultJSONProvider):
    """Flask's JSON provider, reading request bodies as JSON (RFC 8259) only.

    The standard library also reads ``NaN``, ``Infinity`` and numbers too large
    for a float (as infinity). None of them is JSON: a client's library could
    not read them back, and a stored document would hold ``null`` in their
    place. A body with one is refused (``400``) like any other malformed body.
    """

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        """``json.loads`` that refuses non-finite numbers."""
        kwargs.setdefault("parse_constant", _not_json)
        kwargs.setdefault("parse_float", _finite)
        return super().loads(s, **kwargs)


class BodyParser(FlaskParser):
    """webargs' parser, reading the body Flask has already parsed.

    webargs parses a JSON body itself with the standard library: a second
    parse of every body, and one that would accept what :class:`RequestJSON`
    refuses. Here it takes ``request.get_json()``, parsed once by
    ``_media_type``, which has refused a body that does not parse; what is
    left to fail here is an action's absent body, webargs' ``missing``.
    """

    def _raw_load_json(self, req: Any) -> Any:
        if not webargs_core.is_json(req.mimetype):
            return webargs_core.missing
        try:
            return req.get_json()
        except BadRequest as exc:
            # webargs reads an empty ``doc`` as "no body" (``missing``).
            body = req.get_data(cache=True).decode("utf-8", "replace")
            raise json.JSONDecodeError("Invalid JSON body.", body, 0) from exc


class Blueprint(SmorestBlueprint):
    """flask-smorest's blueprint with :class:`BodyParser`: every resource module uses it."""

    ARGUMENTS_PARSER = BodyParser()


_SEND_JSON = "Send a JSON object of the documented shape."


def _unreadable(data: bytes) -> ApiError:
    """``400 invalidJson`` for a body that did not parse, saying why (one answer for
    every operation, whether webargs or the view reads the body)."""
    if not data.strip():
        return ApiError(400, "invalidJson", "The request body is empty.", remediation=_SEND_JSON)
    try:
        current_app.json.loads(data)
        reason = "it could not be read"  # not reached: it failed a moment ago
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        reason = str(exc)[:200]
    return ApiError(400, "invalidJson", f"The request body is not valid JSON: {reason}.",
                    remediation=_SEND_JSON)


def _nul_refused(where: str) -> ApiError:
    return ApiError(400, "invalidCharacter",
                    f"{where} contains the NUL character (U+0000), which no text may hold.",
                    remediation="Remove the NUL character.")


#: What no stored text can hold: U+0000 (PostgreSQL's text cannot) and a lone
#: UTF-16 surrogate (not a character: no UTF-8 encodes it, for either database).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
#: The JSON escapes that can bring one in (JSON text itself cannot: it is UTF-8).
_UNSTORABLE_ESCAPES = (b"\\u0000", b"\\ud", b"\\uD")


def _holds_unstorable(value: Any) -> bool:
    """True if any string in ``value`` (a parsed JSON body, keys included) holds
    U+0000 or a lone surrogate (a surrogate pair is read as one character)."""
    if isinstance(value, str):
        return _UNSTORABLE.search(value) is not None
    if isinstance(value, dict):
        return any(_holds_unstorable(key) or _holds_unstorable(item)
                   for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_unstorable(item) for item in value)
    return False


def _refuse_nul_in_url() -> None:
    """``404`` for a NUL character in the path, ``400`` in the query (``%00``).

    PostgreSQL's text cannot hold U+0000 (the driver refuses the statement)
    while SQLite's can: answering at the door gives one answer on both. No
    resource's URL holds one, hence the ``404``.
    """
    if "\x00" in request.path:
        raise NotFound()
    if b"%00" in request.query_string:
        raise _nul_refused("The query")


def allowed_origin(origin: str | None) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for ``origin``, or ``None`` if not allowed.

    ``ACCOUNTAPPS_CORS_ORIGINS`` lists origins (``https://app.example.com``) or
    is ``*``. Credentials travel in headers (``API-Key``, ``Authorization``),
    never cookies, so no ``Access-Control-Allow-Credentials`` is needed.
    """
    if not origin:
        return None
    configured = [o.strip().rstrip("/") for o in
                  (current_app.config.get("ACCOUNTAPPS_CORS_ORIGINS") or "").split(",")]
    if "*" in configured:
        return "*"
    return origin if origin in configured else None


def _preflight() -> Response | None:
    """Answer a CORS preflight before any credential check (browsers send none)."""
    if request.method != "OPTIONS" or "Access-Control-Request-Method" not in request.headers:
        return None
    response = Response(status=204)
    response.headers["Vary"] = "Origin"
    origin = allowed_origin(request.headers.get("Origin"))
    if origin is not None:  # otherwise no CORS headers: the browser refuses
        response.headers.update({
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": CORS_METHODS,
            "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": CORS_MAX_AGE,
        })
    return response


def _cors_headers(response: Response) -> None:
    if "Access-Control-Allow-Origin" in response.headers:
        return  # a preflight answer
    origin = allowed_origin(request.headers.get("Origin"))
    if current_app.config.get("ACCOUNTAPPS_CORS_ORIGINS"):
        response.vary.add("Origin")
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS


def init_app(app: Flask) -> None:
    """Answer CORS preflights, refuse non-JSON bodies (``415``), add security headers."""
    app.json = RequestJSON(app)
    app.before_request(_preflight)
    app.before_request(_refuse_nul_in_url)

    @app.before_request
    def _media_type() -> None:
        if request.method not in ("POST", "PUT", "PATCH") or request.routing_exception:
            return  # no body expected, or routing answers 404/405 first
        has_body = bool(request.content_length) or "chunked" in request.headers.get(
            "Transfer-Encoding", "")
        if not has_body and request.method == "POST":
            return  # an action without a body
        if request.mimetype not in JSON_TYPES:
            raise ApiError(
                415, "unsupportedMediaType",
                "Request bodies must be application/hal+json or application/json.",
                attributes={"contentType": request.mimetype or None},
            )
        # Parse once here (Flask caches it for the views): JSON nested deeper than
        # the interpreter's recursion limit would otherwise crash the parser (500).
        try:
            body = request.get_json(silent=True)
        except RecursionError as exc:
            raise ApiError(400, "invalidJson", "The request body is nested too deeply.",
                           remediation=_SEND_JSON) from exc
        data = request.get_data(cache=True)
        if body is None and data.strip() != b"null":
            raise _unreadable(data)
        # JSON brings these only escaped: look for them only when an escape is there.
        if any(escape in data for escape in _UNSTORABLE_ESCAPES) and _holds_unstorable(body):
            raise ApiError(
                400, "invalidCharacter", "The request body contains the NUL character "
                "(U+0000) or a lone surrogate (\\ud800-\\udfff), which no text may hold.",
                remediation="Remove it; a character beyond U+FFFF is a surrogate pair.")

    @app.after_request
    def _headers(response: Response) -> Response:
        # One pass over the headers (six setdefault calls scan them six times).
        present = {name.lower() for name, _value in response.headers}
        response.headers.extend([(name, value) for name, value in SECURITY_HEADERS.items()
                                 if name.lower() not in present])
        _cors_headers(response)
        if request.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
