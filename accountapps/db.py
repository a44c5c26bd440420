"""The peewee database: SQLite by default, PostgreSQL for several hosts.

Connections: SQLite keeps one connection per worker thread (opening one and
setting pragmas per request costs ~60 % of throughput, see engineering notes);
PostgreSQL uses a pool and returns the connection after every request.
Connections are opened lazily after gunicorn forks, never at import; the app
factory ends with :func:`close_all`, so nothing opened while migrating is
inherited by forked workers (a pooled connection that is merely "returned"
would still be an open socket shared by every child).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import Flask, request
from peewee import (
    Database,
    DatabaseProxy,
    InterfaceError,
    OperationalError,
    PostgresqlDatabase,
    SqliteDatabase,
)
from playhouse.db_url import connect
from playhouse.pool import MaxConnectionsExceeded, PooledDatabase

from .errors import ApiError

database = DatabaseProxy()

SQLITE_PRAGMAS = {
    "journal_mode": "wal",
    "synchronous": "normal",  # durable across process crashes in WAL mode
    "busy_timeout": 10000,
    "foreign_keys": 1,
    "cache_size": -16000,
}


def make_database(url: str) -> Database:
    """Build a peewee database from a ``db_url`` string."""
    scheme = urlparse(url).scheme
    if scheme.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        return connect(url, pragmas=SQLITE_PRAGMAS, check_same_thread=False)
    if scheme.startswith("postgres"):
        pooled = url.replace("postgresql://", "postgres+pool://", 1).replace(
            "postgres://", "postgres+pool://", 1
        )
        # A request holds one connection at a time, so a sync worker's pool holds
        # one; ``timeout``: wait that long for a free connection, then fail.
        return connect(pooled, unquote_password=True, unquote_user=True,
                       max_connections=32, stale_timeout=300, timeout=10)
    return connect(url)


def close_all() -> None:
    """Close every connection of this process (pooled ones too), e.g. before a fork."""
    current = database.obj
    if current is None:
        return
    if isinstance(current, PooledDatabase):
        current.close_all()
    elif not current.is_closed():
        current.close()


def is_sqlite() -> bool:
    """True when the bound database is SQLite."""
    return isinstance(database.obj, SqliteDatabase)


def is_postgres() -> bool:
    """True when the bound database is PostgreSQL."""
    return isinstance(database.obj, PostgresqlDatabase)


@contextlib.contextmanager
def write_transaction() -> Iterator[None]:
    """A short write transaction.

    On SQLite it starts ``IMMEDIATE`` so the write lock is taken up front rather
    than upgraded mid-transaction (the cause of "database is locked").
    """
    if is_sqlite():
        with database.atomic("IMMEDIATE"):
            yield
    else:
        with database.atomic():
            yield


F = TypeVar("F", bound=Callable[..., Any])


def without_database(view: F) -> F:
    """Mark a view that must answer without a database connection (liveness)."""
    view.without_database = True  # type: ignore[attr-defined]
    return view


def init_app(app: Flask) -> None:
    """Bind the database to the app and manage connections per request."""
    close_all()  # the proxy is process-wide: a previous app's connections would leak
    database.initialize(make_database(app.config["ACCOUNTAPPS_DATABASE_URL"]))
    keep_open = is_sqlite()

    @app.before_request
    def _connect() -> None:
        if getattr(app.view_functions.get(request.endpoint or ""), "without_database", False):
            return
        try:
            database.connect(reuse_if_open=True)
        except (OperationalError, InterfaceError, MaxConnectionsExceeded) as exc:
            # The database is down or full: a retryable 503, not a 500.
            raise ApiError(
                503, "databaseUnavailable", "The service's database is not available.",
                remediation="Retry later.", headers={"Retry-After": "5"},
            ) from exc

    @app.teardown_request
    def _release(_exc: BaseException | None) -> None:
        if not keep_open and not database.is_closed():
            database.close()
