"""Request and response rules shared by every route: media types, headers."""

from __future__ import annotations

from flask import Flask, Response, request

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


def init_app(app: Flask) -> None:
    """Refuse bodies that are not JSON (``415``) and add security headers."""

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

    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if request.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
