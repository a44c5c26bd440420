"""Request hooks, registered in one place and handed the request itself.

Every request passes a dozen hooks, and each reads the request many times.
Through Flask's context proxies (``request``, ``g``) every read looks the
current context up again; ``make bench`` shows that cost on writes. So the
hooks registered here receive the request and ``g`` objects, resolved once per
hook call, instead of each hook resolving the proxies itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response, g, request

Before = Callable[[Request, Any], Response | None]
After = Callable[[Request, Any, Response], Response]


def before(app: Flask, hook: Before) -> None:
    """Run ``hook(request, g)`` before each request (its answer, if any, ends the request)."""

    def run() -> Response | None:
        return hook(request._get_current_object(), g._get_current_object())

    run.__name__ = run.__qualname__ = hook.__name__
    app.before_request(run)


def after(app: Flask, hook: After) -> None:
    """Run ``hook(request, g, response)`` after each request; it returns the response."""

    def run(response: Response) -> Response:
        return hook(request._get_current_object(), g._get_current_object(), response)

    run.__name__ = run.__qualname__ = hook.__name__
    app.after_request(run)
