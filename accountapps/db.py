"""The peewee database: SQLite by default, PostgreSQL for several hosts.

Connections: SQLite keeps one connection per worker thread (opening one and
setting pragmas per request costs ~60 % of throughput, see engineering notes);
PostgreSQL uses a pool and returns the connection after every request.
Connections are opened lazily after gunicorn forks, never at import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse

from flask import Flask
from peewee import Database, DatabaseProxy, PostgresqlDatabase, SqliteDatabase
from playhouse.db_url import connect

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
        return connect(pooled, max_connections=32, stale_timeout=300, timeout=10)
    return connect(url)


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


def init_app(app: Flask) -> None:
    """Bind the database to the app and manage connections per request."""
    database.initialize(make_database(app.config["ACCOUNTAPPS_DATABASE_URL"]))
    keep_open = is_sqlite()

    @app.before_request
    def _connect() -> None:
        database.connect(reuse_if_open=True)

    @app.teardown_request
    def _release(_exc: BaseException | None) -> None:
        if not keep_open and not database.is_closed():
            database.close()
