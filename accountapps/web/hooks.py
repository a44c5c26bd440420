"""Request hooks, registered in one place and run as one chain, handed the request itself.

Every request passes a dozen hooks, and each reads the request many times.
Through Flask's context proxies (``request``, ``g``) every read looks the
current context up again, and Flask wraps each hook it runs (``ensure_sync``).
So the hooks registered here form one chain: Flask runs one ``before_request``
and one ``after_request`` function, which resolve the proxies once and hand
the request and ``g`` objects to every hook in turn.

Order: the ``before`` hooks run in the order they were registered (the first
to return a response ends the request), the ``after`` hooks in the reverse
order, as Flask runs its own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask, Request, Response, g, request

Before = Callable[[Request, Any], Response | None]
After = Callable[[Request, Any, Response], Response]

_CHAIN = "accountapps.hooks"


class _Chain:
    """The app's hooks, in the order each runs."""

    def __init__(self) -> None:
        self.before: list[Before] = []
        self.after: list[After] = []  # the last registered first

    def run_before(self) -> Response | None:
        current, context = request._get_current_object(), g._get_current_object()
        for hook in self.before:
            answer = hook(current, context)
            if answer is not None:
                return answer
        return None

    def run_after(self, response: Response) -> Response:
        current, context = request._get_current_object(), g._get_current_object()
        for hook in self.after:
            response = hook(current, context, response)
        return response


def _chain(app: Flask) -> _Chain:
    chain = app.extensions.get(_CHAIN)
    if chain is None:
        chain = app.extensions[_CHAIN] = _Chain()
        app.before_request(chain.run_before)
        app.after_request(chain.run_after)
    return chain


def before(app: Flask, hook: Before) -> None:
    """Run ``hook(request, g)`` before each request (its answer, if any, ends the request)."""
    _chain(app).before.append(hook)


def after(app: Flask, hook: After) -> None:
    """Run ``hook(request, g, response)`` after each request; it returns the response."""
    _chain(app).after.insert(0, hook)
