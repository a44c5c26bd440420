"""Reading the events in an order that never changes once an event is seen.

A poller keeps the last event it saw and asks for those after it; a dispatcher
does the same. Both must never miss an event, even when transactions commit
in another order than they wrote their events. So an event is given out only
once no transaction can still commit an event before it:

* SQLite has one writer at a time (a write transaction starts ``IMMEDIATE``),
  so ``seq`` is handed out in commit order: the events a reader sees are
  always a prefix of ``seq``. (It is the largest ``seq`` plus one, so pruning
  always leaves the newest event.)
* PostgreSQL writes concurrently, and a ``seq`` taken early may commit late.
  Each event records its transaction's id (``txid``, a 64-bit ``xid8``), and
  events are read in ``(txid, seq)`` order, only those whose transaction is
  older than the oldest one still running
  (``pg_snapshot_xmin(pg_current_snapshot())``): every transaction before that
  line has ended, so nothing can appear behind an event already read. The
  line is the server's: a write transaction in any database holds it, and one
  left open (idle in transaction) holds it back until it ends. Events wait
  for it: never lost, only later.

A position is ``(txid, seq)``; on SQLite ``txid`` is always ``"0"``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from accountapps.storage.db import database, is_postgres
from accountapps.storage.models import Event

Position = tuple[str, int]
START: Position = ("0", 0)

#: Every column of an event, for a query that names the event table ``e``.
COLUMNS = ", ".join(f'e."{field.column_name}"' for field in Event._meta.sorted_fields)
_FIELDS = [(field.name, field.python_value) for field in Event._meta.sorted_fields]


def from_row(values: Sequence[Any]) -> Event:
    """The event whose :data:`COLUMNS` are ``values`` (further values are ignored)."""
    return Event(**{name: convert(value)
                    for (name, convert), value in zip(_FIELDS, values, strict=False)})


def position_of(event_id: str) -> Position | None:
    """The position of the event ``event_id`` (``None`` when there is none, or no longer)."""
    txid = "e.txid::text" if is_postgres() else "'0'"
    row = database.execute_sql(
        f"SELECT {txid}, e.seq FROM event e WHERE e.id = {database.param}",  # noqa: S608
        (event_id,)).fetchone()
    return (row[0], row[1]) if row else None


def read_after(position: Position, limit: int, *, types: Sequence[str] = (),
               resource_id: str | None = None) -> list[tuple[Event, Position]]:
    """Up to ``limit`` events after ``position`` in order, each with its own position.

    ``types``: only events of these types; ``resource_id``: only this resource's.
    """
    param = database.param
    if is_postgres():
        where = [f"(e.txid, e.seq) > ({param}::xid8, {param})",
                 "e.txid < pg_snapshot_xmin(pg_current_snapshot())"]
        order, txid = "e.txid, e.seq", "e.txid::text"
        params: list[Any] = [position[0], position[1]]
    else:
        where, order, txid, params = [f"e.seq > {param}"], "e.seq", "'0'", [position[1]]
    if types:
        where.append(f"e.type IN ({', '.join([param] * len(types))})")
        params.extend(types)
    if resource_id is not None:
        where.append(f"e.resource_id = {param}")
        params.append(resource_id)
    params.append(limit)
    cursor = database.execute_sql(
        f"SELECT {COLUMNS}, {txid} FROM event e WHERE {' AND '.join(where)} "  # noqa: S608
        f"ORDER BY {order} LIMIT {param}", params)
    found = []
    for row in cursor.fetchall():
        event = from_row(row)
        found.append((event, (row[-1], event.seq)))
    return found


def earliest() -> datetime | None:
    """When the oldest event still kept happened (``None`` when there is none)."""
    row = Event.select(Event.occurred_at).order_by(Event.seq).limit(1).first()
    return row.occurred_at if row else None


def fanout_position(*, lock: bool) -> Position | None:
    """How far events have been turned into deliveries; locked for this transaction.

    ``lock``: on PostgreSQL, ``None`` when another dispatcher holds the lock
    (``SKIP LOCKED``): it is doing the work.
    """
    suffix = " FOR UPDATE SKIP LOCKED" if lock and is_postgres() else ""
    for _attempt in range(2):
        row = database.execute_sql(
            f"SELECT txid, seq FROM event_fanout WHERE id = 1{suffix}"  # noqa: S608
        ).fetchone()
        if row is not None:
            return (row[0], row[1])
        exists = database.execute_sql("SELECT 1 FROM event_fanout WHERE id = 1").fetchone()
        if exists:
            return None  # locked by another dispatcher
        database.execute_sql("INSERT INTO event_fanout (id, seq, txid) VALUES (1, 0, '0') "
                             "ON CONFLICT DO NOTHING")
    return None


def set_fanout_position(position: Position) -> None:
    """Record how far events have been turned into deliveries (in the lock's transaction)."""
    param = database.param
    database.execute_sql(
        f"UPDATE event_fanout SET txid = {param}, seq = {param} WHERE id = 1",  # noqa: S608
        (position[0], position[1]))


def prune(cutoff: datetime, batch: int = 1000) -> int:
    """Delete up to ``batch`` events from before ``cutoff`` that nothing needs; how many.

    An event is kept while a delivery of it is pending or dead-lettered, and
    until it has been turned into deliveries (unless it is older than every
    subscription, which then never receives it); the newest is always kept.
    """
    param = database.param
    before = ("(e.txid, e.seq) <= (f.txid::xid8, f.seq)" if is_postgres()
              else "e.seq <= f.seq")
    return database.execute_sql(
        "DELETE FROM event WHERE seq IN ("  # noqa: S608 (no input in the text)
        "SELECT e.seq FROM event e LEFT JOIN event_fanout f ON f.id = 1 "
        f"WHERE e.occurred_at < {param} "
        f"AND (({before}) OR NOT EXISTS (SELECT 1 FROM webhook_subscription s "
        "WHERE s.created_at <= e.occurred_at)) "
        "AND NOT EXISTS (SELECT 1 FROM webhook_delivery d WHERE d.event_seq = e.seq "
        "AND d.status <> 'delivered') "
        # The newest stays: SQLite numbers a new row after the largest one left.
        "AND e.seq < (SELECT MAX(m.seq) FROM event m) "
        f"ORDER BY e.seq LIMIT {param})",
        (Event.occurred_at.db_value(cutoff), batch)).rowcount
