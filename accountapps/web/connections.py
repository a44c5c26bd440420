"""A database connection for each request that needs one, given back after it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Request

from accountapps.storage import db
from accountapps.web import hooks
from accountapps.web.errors import database_unavailable

F = TypeVar("F", bound=Callable[..., Any])


def without_database(view: F) -> F:
    """Mark a view that must answer without a database connection (liveness)."""
    view.without_database = True  # type: ignore[attr-defined]
    return view


def init_app(app: Flask) -> None:
    """Bind the database to the app and manage connections per request."""
    db.bind(app.config["ACCOUNTAPPS_DATABASE_URL"],
            prepare=app.config["ACCOUNTAPPS_DATABASE_PREPARE"])

    def _connect(current: Request, _context: Any) -> None:
        if getattr(app.view_functions.get(current.endpoint or ""), "without_database", False):
            return
        try:
            db.ensure_connection()
        except db.UNAVAILABLE as exc:
            # The database is down or full: a retryable 503, not a 500.
            raise database_unavailable() from exc

    hooks.before(app, _connect)

    @app.teardown_request
    def _release(_exc: BaseException | None) -> None:
        db.release()
