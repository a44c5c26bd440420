"""Idempotency keys: each key's one answer, stored in the transaction of its effect.

:func:`attempt` is the whole life of a request sent with a key: it locks the
key without waiting (so that a repeat arriving while the first executes is told
so, rather than executing again or queueing behind it), looks up the answer a
request with the key already got, and runs the request in one transaction
(:func:`~accountapps.storage.db.one_transaction`) with the storing of its
answer, so that the answer exists exactly when the effect does. The table's
primary key ``(client_id, user_id, key)`` is the last word: of two requests
that somehow both executed, only one answer can be stored, and the other's
transaction, effect included, is rolled back (:class:`KeyTaken`).

The locks are, on SQLite, the :class:`~.key_locks.KeyLocks` beside the
database, and on PostgreSQL ``pg_try_advisory_lock`` (a session's, released in
the round trip of the ``COMMIT``). Either is released after the commit, so
that the next holder finds the answer; neither needs a transaction, so a
replay or a refusal opens none, and the request's first write starts its
transaction as it would without a key.

On PostgreSQL a request first runs **provisionally**, because there the
lock and the lookup cost a round trip of their own, more than a tenth of a
create's time, while the request's writes all travel with its ``COMMIT``. The
key is locked among this host's workers only (:class:`~.key_locks.KeyLocks`,
no round trip: a repeat arriving at the same host while the first executes is
told so at once), nothing is looked up, and the answer's ``INSERT`` goes with
the ``COMMIT``. A key that already has an answer, or is being answered on
another host, fails that ``INSERT`` (after the other's commit, if it is still
running); the whole transaction is rolled back, effect included, and the
request runs again the way SQLite's does: locked everywhere, looked up, and
given the stored answer. A provisional run that is refused (say, because the
first request changed the resource) looks the key up before it answers, and
gives the stored answer if there is one. So every request still gets the
first request's answer and takes effect at most once; a repeat at another
host while the first executes gets that answer once it exists instead of
``409``, and a repeat costs one round trip more than it would otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import lz4.frame
from peewee import DatabaseError, IntegrityError, InterfaceError, Tuple

from accountapps.storage import jsoncodec
from accountapps.storage.db import (
    HoldingSqlite,
    OneTransaction,
    database,
    execute_later,
    is_postgres,
    keeps_sessions,
    one_transaction,
    prepared,
    write_transaction,
)
from accountapps.storage.models import IdempotencyKey, utcnow

#: A key's answer, the request it answered, and whether it is past its keeping time.
_FIND = ("SELECT method, path, query_sha256, body_sha256, status, headers, body, "
         "compressed, created_at < {p} FROM idempotency_key "
         'WHERE client_id = {p} AND user_id = {p} AND "key" = {p}')
#: PostgreSQL: try the key's lock and look the key up, in one prepared statement.
#: Its snapshot is taken before the lock: should the lock's last holder commit
#: its answer and let go in between, this request executes, and the primary
#: key refuses its answer (:class:`KeyTaken`, or :class:`Again` when deferring),
#: its effect is rolled back and the stored answer replayed.
_LOCKED_AND_FIND = (
    "SELECT pg_try_advisory_lock(%s), k.method, k.path, k.query_sha256, "
    "k.body_sha256, k.status, k.headers, k.body, k.compressed, k.created_at < %s "
    "FROM (SELECT 1) AS one LEFT JOIN idempotency_key AS k "
    'ON k.client_id = %s AND k.user_id = %s AND k."key" = %s')
#: The same, where sessions are not kept (:func:`~accountapps.storage.db.keeps_sessions`):
#: a lock of the transaction, which the request's writes then join.
_XACT_LOCKED_AND_FIND = _LOCKED_AND_FIND.replace("pg_try_advisory_lock",
                                                 "pg_try_advisory_xact_lock")
_UNLOCK = "SELECT pg_advisory_unlock(%s)"
#: The answer, stored (a fixed statement: the write every keyed request makes).
_INSERT = ('INSERT INTO idempotency_key (client_id, user_id, "key", method, path, '
           "query_sha256, body_sha256, created_at, status, headers, body, compressed) "
           "VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, {p})")
#: Bodies from this size on are stored compressed by the service (an LZ4
#: frame): it compresses a create's 5 KB answer in a few microseconds, while the
#: database spends tens of them on every kilobyte it parses and logs (and
#: SQLite, past its page size, on overflow pages).
COMPRESS_FROM_BYTES = 512
_DELETE = 'DELETE FROM idempotency_key WHERE client_id = {p} AND user_id = {p} AND "key" = {p}'
#: (statement, placeholder) -> the statement's text for a database.
_TEXT: dict[tuple[str, str], str] = {}


def _text(statement: str) -> str:
    """``statement`` with the bound database's placeholder."""
    param = database.obj.param
    text = _TEXT.get((statement, param))
    if text is None:
        text = _TEXT[(statement, param)] = statement.format(p=param)
    return text


@dataclass(frozen=True)
class Fingerprint:
    """What makes two requests the same request."""

    method: str
    path: str
    query_sha256: str
    body_sha256: str

    def differences(self, other: Fingerprint) -> list[str]:
        """The parts of ``other`` that differ from this one: method, path, query, body."""
        return [name for name, mine, theirs in (
            ("method", self.method, other.method), ("path", self.path, other.path),
            ("query", self.query_sha256, other.query_sha256),
            ("body", self.body_sha256, other.body_sha256)) if mine != theirs]


@dataclass(frozen=True)
class Answer:
    """A response as stored: its status, the headers that matter and its body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


@dataclass(frozen=True)
class Stored:
    """A key's answer and the request that got it."""

    request: Fingerprint
    answer: Answer


class KeyTaken(Exception):
    """A concurrent request with the same key stored its answer first; this one's
    transaction was rolled back."""


class Again(Exception):
    """A deferred write failed after the request went on (see :func:`attempt`); the
    transaction was rolled back, and the request must run again without deferring."""


@dataclass(frozen=True)
class Scope:
    """A key is its client application's and user's own."""

    client_id: str
    user_id: str
    key: str

    def lock_name(self) -> int:
        """The key's lock, a signed 64-bit number (PostgreSQL's advisory lock key)."""
        text = "\x1f".join((self.client_id, self.user_id, self.key)).encode()
        return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "big", signed=True)


def _stored(row: Any) -> tuple[Stored | None, bool]:
    """The stored answer of a looked-up row, and whether it is past its keeping time."""
    if row is None or row[0] is None:
        return None, False
    method, path, query, body_hash, status, headers, body, compressed, expired = row
    body = bytes(body)
    stored = Stored(Fingerprint(method, path, query, body_hash), Answer(
        status, [tuple(pair) for pair in IdempotencyKey.headers.python_value(headers)],
        lz4.frame.decompress(body) if compressed else body))
    return stored, bool(expired)


def find(scope: Scope, kept_for: timedelta) -> Stored | None:
    """The answer a request with this key got, unless it is older than ``kept_for``."""
    cursor = database.execute_sql(_text(_FIND), [utcnow() - kept_for, scope.client_id,
                                                 scope.user_id, scope.key])
    stored, expired = _stored(cursor.fetchone())
    return None if expired else stored


def _lock_and_find(scope: Scope, name: int, cutoff: datetime, *,
                   in_transaction: bool = False) -> tuple[bool, Any]:
    """Try the key's lock, then look the key up: (locked, the row found or ``None``).

    ``in_transaction``: PostgreSQL, a lock that the transaction's end releases."""
    values = [cutoff, scope.client_id, scope.user_id, scope.key]
    if is_postgres():
        statement = _XACT_LOCKED_AND_FIND if in_transaction else _LOCKED_AND_FIND
        row = database.execute_sql(*prepared(statement, [name, *values])).fetchone()
        return bool(row[0]), row[1:]
    locked = database.obj.key_locks.try_lock(name)
    return locked, database.execute_sql(_text(_FIND), values).fetchone()


def _unlock(name: int, *, host_only: bool = False) -> None:
    """Release the key's lock: this host's (SQLite, or a provisional run), else the database's."""
    if host_only or not is_postgres():
        database.obj.key_locks.unlock(name)
        return
    with contextlib.suppress(DatabaseError, InterfaceError):  # a lost session holds no lock
        database.execute_sql(_UNLOCK, [name])


class Attempt:
    """A request with a key, inside :func:`attempt`."""

    def __init__(self, transaction: OneTransaction, scope: Scope, stored: Stored | None,
                 expired: bool, locked: bool) -> None:
        self._transaction, self._scope, self._expired = transaction, scope, expired
        #: The answer a request with this key got (the request may differ).
        self.stored = stored
        #: True when another request with this key is executing now.
        self.busy = not locked and stored is None
        self.kept = False

    def keep(self, request: Fingerprint, answer: Answer) -> None:
        """Store ``answer`` to ``request`` in the transaction of its effect."""
        self._transaction.begin()  # if the request wrote nothing, its transaction starts here
        scope = self._scope
        self.kept = True
        key = [scope.client_id, scope.user_id, scope.key]
        if self._expired:  # an earlier use of the key, past its keeping time
            execute_later(_text(_DELETE), key)
        body, compressed = answer.body, len(answer.body) >= COMPRESS_FROM_BYTES
        if compressed:
            body = lz4.frame.compress(body)
        execute_later(_text(_INSERT), [
            *key, request.method, request.path, request.query_sha256, request.body_sha256,
            utcnow(), answer.status, jsoncodec.dumps(answer.headers, strict=True), body,
            compressed])


def _answered(current: Attempt, scope: Scope, kept_for: timedelta) -> bool:
    """True when a provisional run that ended without storing an answer (refused,
    or failed) should give the key's stored answer instead: there is one, and the
    run was not refused for the key being busy on this host."""
    return not current.busy and find(scope, kept_for) is not None


@contextlib.contextmanager
def attempt(scope: Scope, kept_for: timedelta, *, defer: bool = False) -> Iterator[Attempt]:
    """Lock the key, look it up, and run the block in one transaction (see module).

    The block executes the request only when :attr:`Attempt.stored` is ``None``
    and :attr:`Attempt.busy` is false, and calls :meth:`Attempt.keep` to store
    its answer; the transaction is committed then, and rolled back otherwise
    (the block raised, or stored nothing). :class:`KeyTaken` when a concurrent
    request stored an answer first.

    ``defer``: on PostgreSQL, the request runs provisionally (see module): the
    key is locked on this host only and not looked up, and its answer's
    ``INSERT`` goes with the ``COMMIT``, whose primary key settles whether a
    request with the key took effect before; on SQLite, the writes nobody reads
    wait for the block's end or its next other statement, so that the writer's
    turn is not held while the answer is rendered
    (:class:`~accountapps.storage.db.HoldingSqlite`). Should a deferred write
    fail there, or at a statement in between, the code that would have caught
    its error never saw it: on any database error the transaction is rolled
    back and :class:`Again` raised, for the request to run once more without
    deferring. A provisional run that ends in any other error raises
    :class:`Again` too when the key has an answer already (it is replayed).
    """
    defer = defer and (is_postgres() or isinstance(database.obj, HoldingSqlite))
    provisional = defer and is_postgres()
    name = scope.lock_name()
    cutoff = utcnow() - kept_for
    # Behind a pooler that does not keep sessions, a session's lock could stay
    # with a session another client then gets: the lock is the transaction's,
    # which starts before the request executes (its writes then join it).
    in_transaction = is_postgres() and not keeps_sessions() and not provisional
    if provisional:
        locked, row = database.obj.key_locks.try_lock(name), None
    elif in_transaction:
        locked, row = False, None
    else:
        locked, row = _lock_and_find(scope, name, cutoff)
    current: Attempt | None = None
    unlocked = in_transaction  # nothing to release after the transaction
    try:
        with one_transaction(defer_errors=defer) as transaction:
            if in_transaction:
                transaction.begin()
                locked, row = _lock_and_find(scope, name, cutoff, in_transaction=True)
            stored, expired = _stored(row)
            current = Attempt(transaction, scope, None if expired else stored, expired, locked)
            yield current
            if not current.kept:
                transaction.discard()
            elif locked and not in_transaction and not provisional and is_postgres():
                # Sent after the COMMIT, in its round trip (if the COMMIT fails: below).
                unlocked = database.obj.execute_after_commit(_UNLOCK, [name])
        if provisional and not current.kept and _answered(current, scope, kept_for):
            raise Again()  # refused now, answered before: see below
    except DatabaseError as exc:
        unlocked = in_transaction
        if defer:
            # A deferred write's error may surface anywhere after it (as the error
            # of a later statement, even): whatever it was, nothing was committed,
            # and the request runs again (finding a stored answer, if there is one).
            raise Again() from exc
        if isinstance(exc, IntegrityError) and current is not None and current.kept:
            raise KeyTaken() from exc
        raise
    except Again:
        raise
    except Exception as exc:
        unlocked = in_transaction
        if provisional and current is not None and _answered(current, scope, kept_for):
            # Refused now, perhaps because the first request's effect changed
            # the resource: that request's answer is this one's.
            raise Again() from exc
        raise
    except BaseException:
        unlocked = in_transaction
        raise
    finally:
        if locked and not unlocked:
            _unlock(name, host_only=provisional)


def prune(kept_for: timedelta, batch: int = 1000) -> int:
    """Forget the answers older than ``kept_for``; return how many (in short transactions)."""
    cutoff = utcnow() - kept_for
    key = Tuple(IdempotencyKey.client_id, IdempotencyKey.user_id, IdempotencyKey.key)
    removed = 0
    while True:
        with write_transaction():
            old = (IdempotencyKey.select(IdempotencyKey.client_id, IdempotencyKey.user_id,
                                         IdempotencyKey.key)
                   .where(IdempotencyKey.created_at < cutoff).limit(batch))
            count = IdempotencyKey.delete().where(key.in_(old)).execute()
        removed += count
        if count < batch:
            return removed
