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
import time
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
from playhouse.db_url import connect, parse
from playhouse.pool import MaxConnectionsExceeded, PooledDatabase, PooledPostgresqlDatabase
from psycopg2.extensions import TRANSACTION_STATUS_IDLE

from .errors import database_unavailable

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
        # A request holds one connection at a time, so a sync worker's pool holds
        # one; ``timeout``: wait that long for a free connection, then fail.
        return PostgresPool(**parse(url, unquote_password=True, unquote_user=True),
                            max_connections=32, stale_timeout=300, timeout=10)
    return connect(url)


class PostgresPool(PooledPostgresqlDatabase):
    """peewee's pool, with a round trip to check a connection only after it sat idle.

    peewee checks every connection it hands out with ``SELECT 1``: a round trip
    per request, a fifth of a ``304``'s time. A connection returned less than
    :attr:`ping_after` seconds ago is checked locally (not closed, no
    transaction left open); one idle for longer, which a database restart or a
    firewall could have cut, gets the round trip. A connection that fails
    anyway fails its request with a retryable ``503`` (``errors.register``)
    and is discarded.
    """

    ping_after = 5.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._returned_at: dict[int, float] = {}

    def _is_closed(self, conn: Any) -> bool:
        returned = self._returned_at.pop(self.conn_key(conn), None)
        if (returned is not None and time.monotonic() - returned < self.ping_after
                and not conn.closed
                and conn.get_transaction_status() == TRANSACTION_STATUS_IDLE):
            return False
        return super()._is_closed(conn)

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        if close_conn:
            self._returned_at.pop(self.conn_key(conn), None)
        else:
            self._returned_at[self.conn_key(conn)] = time.monotonic()
        super()._close(conn, close_conn)


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
            raise database_unavailable() from exc

    @app.teardown_request
    def _release(_exc: BaseException | None) -> None:
        if not keep_open and not database.is_closed():
            database.close()
