"""Which database the suite runs against, and a clean one for every test.

The suite runs twice in CI (``make test``): on SQLite (a new file per test) and,
with ``ACCOUNTAPPS_TEST_DATABASE_URL=postgresql://…``, on PostgreSQL. A PostgreSQL
run works in a schema of its own (``search_path``), created for the session and
dropped at its end, and empties every table before each test with one
``TRUNCATE`` (a fraction of the cost of re-running the migrations).

``ACCOUNTAPPS_TEST_BACKEND=postgresql`` without a URL, or a URL whose server
cannot be reached, skips every test and says why, unless
``ACCOUNTAPPS_TEST_REQUIRE_POSTGRES=1`` (CI, once it has started a server),
which turns that into a failure.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlparse, urlunparse

URL_VARIABLE = "ACCOUNTAPPS_TEST_DATABASE_URL"

_REQUESTED = os.environ.get("ACCOUNTAPPS_TEST_BACKEND", "").strip().lower()
_URL = os.environ.get(URL_VARIABLE, "").strip()
#: "sqlite" or "postgresql": as requested, else PostgreSQL when a URL is given.
BACKEND = "postgresql" if _REQUESTED in ("postgresql", "postgres") or (
    not _REQUESTED and _URL) else "sqlite"
#: The PostgreSQL URL under test, or "" for SQLite.
POSTGRES_URL = _URL if BACKEND == "postgresql" else ""
REQUIRE_POSTGRES = os.environ.get("ACCOUNTAPPS_TEST_REQUIRE_POSTGRES", "") in ("1", "true")


def redacted(url: str) -> str:
    """``url`` without its password (for headers and messages)."""
    parsed = urlparse(url)
    if parsed.password is None:
        return url
    netloc = parsed.netloc.replace(f":{parsed.password}@", ":***@", 1)
    return urlunparse(parsed._replace(netloc=netloc))


def with_schema(url: str, schema: str) -> str:
    """``url`` with its connections' ``search_path`` set to ``schema``."""
    parsed = urlparse(url)
    query = [(k, v) for k, v in parse_qsl(parsed.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunparse(parsed._replace(query=urlencode(query, quote_via=quote)))


def _connect(url: str):
    import psycopg2

    parsed = urlparse(url)
    return psycopg2.connect(
        dbname=parsed.path.lstrip("/"), user=parsed.username, password=parsed.password,
        host=parsed.hostname, port=parsed.port or 5432, connect_timeout=5,
    )


class PostgresSession:
    """A schema of the test database owned by one pytest session."""

    def __init__(self, url: str) -> None:
        self.base_url = url
        self.schema = f"test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.url = with_schema(url, self.schema)
        self.conn = _connect(url)
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{self.schema}"')
            # A test that leaves a connection in a transaction must fail, not hang.
            cur.execute("SET lock_timeout = '10s'")
        self.extra_schemas: list[str] = []

    def clean(self) -> None:
        """Empty every table (but the migrations record) of the session's schema."""
        with self.conn.cursor() as cur:
            cur.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s "
                "AND tablename <> 'schema_version'", (self.schema,))
            tables = [f'"{self.schema}"."{name}"' for (name,) in cur.fetchall()]
            if tables:
                cur.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")

    def empty_database_url(self) -> str:
        """The URL of a new, empty schema (dropped at the end of the session)."""
        schema = f"{self.schema}_{len(self.extra_schemas) + 1}"
        with self.conn.cursor() as cur:
            cur.execute(f'CREATE SCHEMA "{schema}"')
        self.extra_schemas.append(schema)
        return with_schema(self.base_url, schema)

    def close(self) -> None:
        """Drop the session's schemas."""
        with self.conn.cursor() as cur:
            for schema in [self.schema, *self.extra_schemas]:
                cur.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        self.conn.close()


def unavailable_reason() -> str | None:
    """Why the PostgreSQL run cannot happen (``None`` when it can, or for SQLite)."""
    if BACKEND != "postgresql":
        return None
    if not POSTGRES_URL:
        return (f"PostgreSQL run requested but {URL_VARIABLE} is not set "
                "(.ci/run starts a server; or set it to postgresql://user:pass@host/db)")
    try:
        _connect(POSTGRES_URL).close()
    except Exception as exc:  # any driver or network error means: no server
        return f"cannot connect to PostgreSQL at {redacted(POSTGRES_URL)}: {exc}".strip()
    return None


def sqlite_url(directory: Path, name: str = "test.db") -> str:
    """An SQLite URL for a new file in ``directory``."""
    return f"sqlite:///{directory / name}"
