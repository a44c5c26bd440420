"""The peewee database: SQLite by default, PostgreSQL for several hosts.

Connections: SQLite keeps one connection per worker thread (opening one and
setting pragmas per request costs much of the throughput, see engineering notes);
PostgreSQL uses a pool and returns the connection after every request, and
sends as few round trips as it can (:class:`PostgresPool`).
Connections are opened lazily after gunicorn forks, never at import; the app
factory ends with :func:`close_all`, so nothing opened while migrating is
inherited by forked workers (a pooled connection that is merely "returned"
would still be an open socket shared by every child).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from peewee import (
    Database,
    DatabaseProxy,
    InterfaceError,
    OperationalError,
    PostgresqlDatabase,
    SqliteDatabase,
    _savepoint,
)
from playhouse.db_url import connect, parse
from playhouse.pool import MaxConnectionsExceeded, PooledDatabase, PooledPostgresqlDatabase
from psycopg2.extensions import TRANSACTION_STATUS_IDLE
from psycopg2.extensions import connection as Psycopg2Connection

from accountapps.storage.key_locks import KeyLocks
from accountapps.storage.writer_queue import WriterQueue


class _DatabaseProxy(DatabaseProxy):
    """peewee's proxy, whose savepoints are the bound database's own (peewee's
    proxy builds plain ones, and :class:`PostgresPool` has its own)."""

    def savepoint(self) -> Any:
        return self.obj.savepoint()


database = _DatabaseProxy()

SQLITE_PRAGMAS = {
    # Every page a write touches is copied to the WAL at commit and back at the
    # checkpoint; a create touches ~20 (a row, a dozen index leaves, the audit
    # record): with 2 KiB pages instead of 4 KiB it costs less CPU, reads
    # no more. Takes effect only in a new database, so it comes first.
    "page_size": 2048,
    "journal_mode": "wal",
    "synchronous": "normal",  # durable across process crashes in WAL mode
    "busy_timeout": 10000,
    "foreign_keys": 1,
    "cache_size": -16000,
}


class HoldingSqlite(SqliteDatabase):
    """SQLite, where a block that defers its errors holds its blind writes.

    SQLite has one writer at a time, and a write transaction holds the
    writer's turn from its first statement to its ``COMMIT``. In a
    :func:`one_transaction` block with ``defer_errors`` (an idempotent
    request's), the writes whose results nobody reads (:func:`execute_later`)
    wait in the block instead: the turn and ``BEGIN IMMEDIATE`` are taken when
    a statement must run (any other, which then sees every write before it) or
    when the block ends. A create, whose writes are all blind, then holds the
    turn for its statements and the ``COMMIT`` only, not while its answer is
    rendered and stored. As with PostgreSQL's batches, an error of a held
    statement surfaces when it runs, possibly after the request went on.
    """

    def _set_pragmas(self, conn: Any) -> None:
        # Turning a new database to WAL needs it to itself; while another
        # process writes to it (a second gunicorn worker migrating at start-up)
        # SQLite answers "database is locked" at once instead of waiting, and
        # that worker would fail to boot. The pragmas are idempotent: retry.
        deadline = time.monotonic() + SQLITE_PRAGMAS["busy_timeout"] / 1000
        while True:
            try:
                super()._set_pragmas(conn)
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        """Run ``sql``, after whatever the thread's block holds."""
        transaction = getattr(_joined, "transaction", None)
        if transaction is not None and transaction.held is not None:
            transaction.release()
        return super().execute_sql(sql, params)


def make_database(url: str, *, prepare: bool = True) -> Database:
    """Build a peewee database from a ``db_url`` string.

    ``prepare``: on PostgreSQL, prepare the frequent queries once per session
    (off behind a pooler that does not keep sessions, e.g. PgBouncer in
    transaction mode).
    """
    scheme = urlparse(url).scheme
    if scheme.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        sqlite = (HoldingSqlite(**parse(url), pragmas=SQLITE_PRAGMAS, check_same_thread=False)
                  if scheme == "sqlite" else
                  connect(url, pragmas=SQLITE_PRAGMAS, check_same_thread=False))
        on_disk = bool(path) and path != ":memory:"
        if on_disk:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            sqlite.writer_queue = WriterQueue(path)
        sqlite.key_locks = KeyLocks(path if on_disk else None)
        return sqlite
    if scheme.startswith("postgres"):
        # A request holds one connection at a time, so a sync worker's pool holds
        # one; ``timeout``: wait that long for a free connection, then fail.
        pool = PostgresPool(**parse(url, unquote_password=True, unquote_user=True),
                            max_connections=32, stale_timeout=300, timeout=10,
                            connection_factory=PreparingConnection, prepare=prepare)
        # This host's workers' keys in flight (an idempotent request's provisional
        # run, see accountapps.storage.idempotency): no round trip to take one.
        pool.key_locks = KeyLocks(host_lock_path(url))
        return pool
    return connect(url)


def host_lock_path(url: str) -> str:
    """Where this host's processes serving the database ``url`` share their key locks:
    a file per database in the temporary directory, named by a digest of the
    server, user and database (never of the password: the name is readable by all)."""
    parts = urlparse(url)
    where = f"{parts.username or ''}@{parts.hostname or ''}:{parts.port or ''}{parts.path}"
    digest = hashlib.sha256(where.encode()).hexdigest()[:24]
    return str(Path(tempfile.gettempdir()) / f"accountapps-{digest}")


class PreparingConnection(Psycopg2Connection):
    """A psycopg2 connection that remembers which statements it has prepared."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Names prepared on this session; ``None``: unknown (a round with a
        #: PREPARE failed), so the next one starts with ``DEALLOCATE ALL``.
        self.prepared: set[str] | None = set()


class PostgresPool(PooledPostgresqlDatabase):
    """peewee's pool, with as few round trips as a request can have.

    Three savings, each below: a connection is checked only after it sat idle;
    a transaction's statements travel together with its ``COMMIT``; the
    frequent queries are prepared once per connection.

    peewee checks every connection it hands out with ``SELECT 1``: a round trip
    per request, a fifth of a ``304``'s time. A connection returned less than
    :attr:`ping_after` seconds ago is checked locally (not closed, no
    transaction left open); one idle for longer, which a database restart or a
    firewall could have cut, gets the round trip. A connection that fails
    anyway fails its request with a retryable ``503`` (``errors.register``)
    and is discarded.
    """

    ping_after = 5.0

    def __init__(self, *args: Any, prepare: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prepare = prepare
        self._returned_at: dict[int, float] = {}
        # Per thread: ``batch``, the transaction's unsent statements; ``preparing``,
        # the PREPARE that the next round trip carries (connection, name, text).
        self._local = threading.local()

    # Transactions travel in as few round trips as possible. psycopg2 sends a
    # statement with its values already in it, and PostgreSQL runs a string of
    # statements in order and answers with the last one's result; so BEGIN, and
    # every statement whose result nobody reads (``execute_later``), wait and go
    # with the next statement that needs an answer, or with the COMMIT. A create
    # (BEGIN, three INSERTs, COMMIT) is one round trip instead of five. An error
    # in any of them fails that round trip and the transaction rolls back.

    def _pending(self) -> _Batch | None:
        return getattr(self._local, "batch", None)

    def begin(self, isolation_level: Any = None) -> None:
        """Start a transaction; its ``BEGIN`` is sent with the first statement."""
        self.connection()  # open it now: opening later would forget the transaction
        level = isolation_level or self._isolation_level
        statement = (f"BEGIN TRANSACTION ISOLATION LEVEL "
                     f"{self._adapter.isolation_level_str(level)}" if level else "BEGIN")
        self._local.batch = _Batch([statement], [], begun=False)

    def execute_later(self, sql: str, params: Any) -> bool:
        """Queue a statement to go with the next one; ``False`` outside a transaction."""
        batch = self._pending()
        if batch is None:
            return False
        batch.statements.append(sql)
        batch.params.extend(params)
        return True

    def execute_after_commit(self, sql: str, params: Any) -> bool:
        """Queue a statement to follow this transaction's ``COMMIT`` in its round
        trip; forgotten if the transaction rolls back. ``False`` outside a transaction."""
        batch = self._pending()
        if batch is None:
            return False
        batch.after.append((sql, list(params)))
        return True

    def flush(self) -> None:
        """Send what the transaction has waiting now (its errors are raised here)."""
        batch = self._pending()
        if batch is not None and batch.statements and (batch.begun or len(batch.statements) > 1):
            super().execute_sql(*batch.take_all())

    def execute_sql(self, sql: str, params: Any = None) -> Any:
        """Run ``sql``, preceded by whatever the transaction has waiting."""
        batch = self._pending()
        if batch is not None and batch.statements:
            sql, params = batch.take(sql, params)
        preparing = getattr(self._local, "preparing", None)
        self._local.preparing = None
        if preparing is None or not sql.endswith(preparing[2]):  # not the round it was for
            return super().execute_sql(sql, params)
        conn, name, _text = preparing
        try:
            cursor = super().execute_sql(sql, params)
        except Exception:
            conn.prepared = None
            raise
        if conn.prepared is None:
            conn.prepared = set()  # DEALLOCATE ALL ran
        conn.prepared.add(name)
        return cursor

    def prepared(self, sql: str, params: Any) -> tuple[str, Any]:
        """``sql`` as the ``EXECUTE`` of a statement prepared once per connection.

        For the fixed-shape queries every request makes (a row by id): the
        server parses and plans them once per session instead of per request.
        The first use on a connection sends the
        ``PREPARE`` with the ``EXECUTE``, in the same round trip.
        """
        if not self.prepare:
            return sql, params
        conn = self.connection()
        if not isinstance(conn, PreparingConnection) or "%%" in sql:  # % would break $n
            return sql, params
        known = conn.prepared
        name = _STATEMENT_NAMES.get(sql)
        if name is None:
            if len(_STATEMENT_NAMES) >= MAX_PREPARED:  # shapes of clients' filters: bounded
                return sql, params
            name = _STATEMENT_NAMES[sql] = f"accountapps_{len(_STATEMENT_NAMES)}"
        count = len(params)
        execute = f"EXECUTE {name}({', '.join(['%s'] * count)})" if count else f"EXECUTE {name}"
        if known is not None and name in known:
            return execute, params
        numbered = iter(range(1, count + 1))
        prepare = f"PREPARE {name} AS " + _PLACEHOLDER.sub(lambda _m: f"${next(numbered)}", sql)
        if known is None:
            prepare = f"DEALLOCATE ALL; {prepare}"
        # Counted as prepared once this round trip succeeds; ``execute_sql``
        # marks the session unknown if it fails (the PREPARE may or may not have run).
        statement = f"{prepare}; {execute}"
        self._local.preparing = (conn, name, statement)
        return statement, params

    def savepoint(self) -> _LazySavepoint:
        """A savepoint whose ``SAVEPOINT`` waits for the next round trip (see the class)."""
        return _LazySavepoint(self)

    def commit(self) -> None:
        """Send what is waiting together with ``COMMIT`` (and what follows it)."""
        batch = self._pending()
        self._local.batch = None
        if batch is None:
            super().commit()
            return
        end, values = "COMMIT", []
        for statement, params in batch.after:
            end += f"; {statement}"
            values += params
        if batch.begun or len(batch.statements) > 1:
            super().execute_sql(*batch.take(end, values))
        elif batch.after:  # only a BEGIN waiting: nothing to commit
            super().execute_sql(end.removeprefix("COMMIT; "), values)

    def rollback(self) -> None:
        """Drop what is waiting; ``ROLLBACK`` only if the transaction reached the server."""
        batch = self._pending()
        self._local.batch = None
        if batch is None or batch.begun:
            super().rollback()

    def _is_closed(self, conn: Any) -> bool:
        returned = self._returned_at.pop(self.conn_key(conn), None)
        if (returned is not None and time.monotonic() - returned < self.ping_after
                and not conn.closed
                and conn.get_transaction_status() == TRANSACTION_STATUS_IDLE):
            return False
        return super()._is_closed(conn)

    def _close(self, conn: Any, close_conn: bool = False) -> None:
        self._local.batch = self._local.preparing = None  # never carried to a next user
        if close_conn:
            self._returned_at.pop(self.conn_key(conn), None)
        else:
            self._returned_at[self.conn_key(conn)] = time.monotonic()
        super()._close(conn, close_conn)


#: Statement text -> its prepared name, the same in every session of this process.
_STATEMENT_NAMES: dict[str, str] = {}
#: At most this many statements are prepared per session (collection queries
#: take the shape of the client's filter; past the bound they run unprepared).
MAX_PREPARED = 256
_PLACEHOLDER = re.compile(r"%s")


def prepared(sql: str, params: Any) -> tuple[str, Any]:
    """``(sql, params)`` to run a fixed-shape query, prepared where that pays (PostgreSQL)."""
    current = database.obj
    return current.prepared(sql, params) if isinstance(current, PostgresPool) else (sql, params)


class _Batch:
    """Statements of a PostgreSQL transaction not sent yet, with their values.

    ``sent`` counts the round trips that took statements from it, so that a
    savepoint can tell whether its ``SAVEPOINT`` has reached the server.
    """

    __slots__ = ("after", "begun", "params", "sent", "statements")

    def __init__(self, statements: list[str], params: list[Any], *, begun: bool) -> None:
        self.statements, self.params, self.begun = statements, params, begun
        self.sent = 0
        #: Statements sent right after the ``COMMIT`` (see ``execute_after_commit``).
        self.after: list[tuple[str, list[Any]]] = []

    def take(self, sql: str, params: Any) -> tuple[str, list[Any]]:
        """Everything waiting, then ``sql``, as one string; nothing is left waiting."""
        joined = "; ".join([*self.statements, sql])
        values = [*self.params, *(params or ())]
        self.statements, self.params, self.begun = [], [], True
        self.sent += 1
        return joined, values

    def take_all(self) -> tuple[str, list[Any]]:
        """Everything waiting, as one string; nothing is left waiting."""
        joined, values = "; ".join(self.statements), self.params
        self.statements, self.params, self.begun = [], [], True
        self.sent += 1
        return joined, values

    def mark(self) -> tuple[int, int, int]:
        """Where the batch stands now: (round trips, statements, values)."""
        return self.sent, len(self.statements), len(self.params)

    def drop_after(self, mark: tuple[int, int, int]) -> bool:
        """Forget what was queued since ``mark`` if none of it was sent; else forget
        whatever still waits. True when nothing since ``mark`` reached the server."""
        sent, statements, params = mark
        if sent == self.sent:
            del self.statements[statements:], self.params[params:]
            return True
        self.statements, self.params = [], []
        return False


class _LazySavepoint(_savepoint):
    """A savepoint of a :class:`PostgresPool` transaction that costs no round trip of its own.

    Inside a transaction that joins several writes (:func:`one_transaction`),
    each write is a savepoint. Its ``SAVEPOINT`` goes with the next statement.
    Its ``RELEASE`` goes at once when statements of the block still wait, so
    that their errors reach the block that made them (which may catch one and
    carry on, as a create catches the index's refusal), else with the next
    statement. A rollback before anything of the block reached the server
    just forgets the block's statements.
    """

    db: PostgresPool

    def _begin(self) -> None:
        batch = self.db._pending()
        if batch is None:  # not in a transaction that batches: as peewee does
            super()._begin()
            return
        self.mark = batch.mark()
        batch.statements.append(f"SAVEPOINT {self.quoted_sid}")

    def commit(self, begin: bool = True) -> None:
        batch = self.db._pending()
        release = f"RELEASE SAVEPOINT {self.quoted_sid}"
        if batch is not None and not batch.statements:
            batch.statements.append(release)
        else:
            self.db.execute_sql(release)
        if begin:
            self._begin()

    def rollback(self, begin: bool = True) -> None:
        batch = self.db._pending()
        mark = getattr(self, "mark", None)
        if batch is None or mark is None or not batch.drop_after(mark):
            self.db.execute_sql(f"ROLLBACK TO SAVEPOINT {self.quoted_sid}")
        if begin:
            self._begin()


def execute_later(sql: str, params: Any) -> None:
    """Run a write whose result nobody reads (no row count, no returned rows).

    On PostgreSQL inside a transaction it is sent with the transaction's next
    statement or its ``COMMIT`` (one round trip for several); on SQLite in a
    block that holds its writes (:class:`HoldingSqlite`) it waits until a
    statement must run or the block ends; elsewhere at once.
    """
    current = database.obj
    if isinstance(current, PostgresPool):
        if current.execute_later(sql, params):
            return
    else:
        transaction = getattr(_joined, "transaction", None)
        if transaction is not None and transaction.held is not None:
            transaction.held.append((sql, params))
            return
    database.execute_sql(sql, params)


def close_all() -> None:
    """Close every connection of this process (pooled ones too), e.g. before a fork."""
    current = database.obj
    if current is None:
        return
    if isinstance(current, PooledDatabase):
        current.close_all()
    elif not current.is_closed():
        current.close()


def analyze(table: str) -> None:
    """Refresh PostgreSQL's statistics of ``table`` (the planner's picture of it);
    nothing on SQLite, whose planner goes by the schema unless told otherwise."""
    if is_postgres():
        database.execute_sql(f'ANALYZE "{table}"')  # our own table names only


def is_sqlite() -> bool:
    """True when the bound database is SQLite."""
    return isinstance(database.obj, SqliteDatabase)


def is_postgres() -> bool:
    """True when the bound database is PostgreSQL."""
    return isinstance(database.obj, PostgresqlDatabase)


def keeps_sessions() -> bool:
    """False behind a pooler that may give each transaction another server session
    (PgBouncer in transaction mode, ``ACCOUNTAPPS_DATABASE_PREPARE=0``): nothing of
    a session (a prepared statement, a session's advisory lock) may outlive a
    transaction there."""
    current = database.obj
    return not isinstance(current, PostgresPool) or bool(current.prepare)


@contextlib.contextmanager
def write_transaction(*, one_statement: bool = False) -> Iterator[None]:
    """A short write transaction.

    On SQLite it starts ``IMMEDIATE`` so the write lock is taken up front rather
    than upgraded mid-transaction (the cause of "database is locked"), after
    waiting its turn in the :class:`~.writer_queue.WriterQueue`.

    ``one_statement``: the block runs exactly one statement, which is atomic by
    itself (its triggers included). On PostgreSQL it is then sent on its own,
    committed by the server as it runs: one round trip instead of a second
    one for the ``COMMIT``.

    Inside :func:`one_transaction` it joins that transaction (see there).
    """
    joined = getattr(_joined, "transaction", None)
    if joined is not None:
        with joined.write():
            yield
        return
    if is_sqlite():
        queue = getattr(database.obj, "writer_queue", None)
        with queue.turn() if queue else contextlib.nullcontext(), database.atomic("IMMEDIATE"):
            yield
    elif one_statement and not database.in_transaction():
        yield
    else:
        with database.atomic():
            yield


#: The :class:`OneTransaction` this thread's writes join, if any.
_joined = threading.local()


class OneTransaction:
    """The transaction that every write of a :func:`one_transaction` block joins."""

    def __init__(self, *, defer_errors: bool = False) -> None:
        self._stack: contextlib.ExitStack | None = None
        self.discarded = False
        self.defer_errors = defer_errors
        #: SQLite, deferring: the statements waiting for the transaction to start
        #: (see :class:`HoldingSqlite`); ``None`` when nothing is held.
        self.held: list[tuple[str, Any]] | None = None
        #: Per write of the block open while statements are held: where its
        #: statements start in :attr:`held`, and its savepoint once they ran.
        self._open: list[list[Any]] = []

    @property
    def begun(self) -> bool:
        """True once the transaction has started."""
        return self._stack is not None

    def begin(self) -> None:
        """Start the transaction now, if it has not started (SQLite: take the writer's
        turn), or, in a deferring block on :class:`HoldingSqlite`, start holding writes."""
        if self._stack is not None or self.held is not None:
            return
        if self.defer_errors and isinstance(database.obj, HoldingSqlite):
            self.held = []
            return
        self._start()

    def _start(self) -> None:
        stack = contextlib.ExitStack()
        if is_sqlite():
            queue = getattr(database.obj, "writer_queue", None)
            if queue is not None:
                stack.enter_context(queue.turn())
            stack.enter_context(database.atomic("IMMEDIATE"))
        else:
            stack.enter_context(database.atomic())
        self._stack = stack

    def release(self) -> None:
        """Start the transaction and run the held statements (a statement must run now).

        Each write still open gets its savepoint where its statements begin, as
        it would have had if nothing had been held.
        """
        held, self.held = self.held, None
        if held is None:
            return
        self._start()
        done = 0
        for entry in self._open:
            for statement in held[done:entry[0]]:
                database.execute_sql(*statement)
            done = entry[0]
            savepoint = database.atomic()
            savepoint.__enter__()
            entry[1] = savepoint
        for statement in held[done:]:
            database.execute_sql(*statement)

    @contextlib.contextmanager
    def write(self) -> Iterator[None]:
        """A write of the block: the transaction's first, which starts it, or a
        savepoint of it. The first one's statements are sent when it ends, so
        that their errors are its own (PostgreSQL batches them), unless the
        block defers errors (``defer_errors``: they may then surface at a later
        statement or at the ``COMMIT``); if it fails, the transaction, which
        holds nothing else yet, is rolled back whole (as its savepoint would be)
        and starts again at the next write."""
        if self._stack is not None:
            with database.atomic():  # a savepoint
                yield
            return
        self.begin()
        if self.held is not None:
            with self._holding():
                yield
            return
        try:
            yield
            current = database.obj
            if isinstance(current, PostgresPool) and not self.defer_errors:
                current.flush()
        except BaseException as error:
            self._end(error)
            raise

    @contextlib.contextmanager
    def _holding(self) -> Iterator[None]:
        """A write while statements are held: undone by forgetting its statements,
        or by its savepoint if they ran meanwhile (:meth:`release`)."""
        assert self.held is not None
        entry: list[Any] = [len(self.held), None]
        self._open.append(entry)
        try:
            yield
        except BaseException as error:
            self._open.pop()
            if entry[1] is not None:
                entry[1].__exit__(type(error), error, error.__traceback__)
            elif self.held is not None:
                del self.held[entry[0]:]
            raise
        self._open.pop()
        if entry[1] is not None:
            entry[1].__exit__(None, None, None)

    def discard(self) -> None:
        """Roll back at the end of the block instead of committing."""
        self.discarded = True

    def _end(self, error: BaseException | None) -> None:
        held, self.held = self.held, None
        if held and error is None and not self.discarded:
            self.held = held  # the block ended well: what it held runs now
            try:
                self.release()
            except BaseException as failed:
                self._close(failed)
                raise
        self._close(error)

    def _close(self, error: BaseException | None) -> None:
        stack, self._stack = self._stack, None
        if stack is None:
            return
        if error is None and self.discarded:
            error = _Discarded()
        if error is None:
            stack.close()  # commits (a failed COMMIT rolls back and raises)
        else:
            stack.__exit__(type(error), error, error.__traceback__)  # rolls back


class _Discarded(Exception):
    """Passed to the transaction's exit to roll it back (never raised)."""


@contextlib.contextmanager
def one_transaction(*, defer_errors: bool = False) -> Iterator[OneTransaction]:
    """Make the block's writes one transaction, committed when the block ends.

    Each :func:`write_transaction` inside joins it (the first one is the
    transaction itself, the others savepoints of it), so the block's effects
    and what it records about them are committed together or not at all. It
    begins at the block's first write (or :meth:`OneTransaction.begin`): a
    block that only reads opens none (on SQLite, the writer lock is not held
    while the block reads). It is rolled back when the block raises or calls
    :meth:`OneTransaction.discard`. ``defer_errors``: see :meth:`OneTransaction.write`.
    """
    if getattr(_joined, "transaction", None) is not None:
        raise RuntimeError("one_transaction blocks do not nest")
    transaction = _joined.transaction = OneTransaction(defer_errors=defer_errors)
    try:
        yield transaction
    except BaseException as error:
        _joined.transaction = None
        transaction._end(error)
        raise
    _joined.transaction = None
    transaction._end(None)


def bind(url: str, *, prepare: bool = True) -> None:
    """Point :data:`database` at ``url`` (closing what a previous binding had open)."""
    close_all()  # the proxy is process-wide: a previous app's connections would leak
    database.initialize(make_database(url, prepare=prepare))


#: What :func:`connect` raises when the database is down or has no free connection.
UNAVAILABLE = (OperationalError, InterfaceError, MaxConnectionsExceeded)


def ensure_connection() -> None:
    """Make sure this thread holds a connection (raises one of :data:`UNAVAILABLE`)."""
    database.connect(reuse_if_open=True)


def release() -> None:
    """Give this thread's connection back after a request (SQLite keeps its own open)."""
    if not is_sqlite() and not database.is_closed():
        database.close()
