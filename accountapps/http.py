"""Request and response rules shared by every route: media types, headers, CORS."""

from __future__ import annotations

from flask import Flask, Response, current_app, request

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

    app.before_request(_preflight)

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
            request.get_json(silent=True)
        except RecursionError as exc:
            raise ApiError(400, "invalidJson", "The request body is nested too deeply.",
                           remediation="Send a JSON object of the documented shape.") from exc

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
