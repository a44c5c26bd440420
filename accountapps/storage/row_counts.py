"""Exact row counts of whole tables without counting: a counter kept by triggers.

An administrator's unfiltered page must report ``count``, the number of every
application; ``COUNT(*)`` reads a whole index for that (slow at a million
rows on SQLite, more on PostgreSQL), on every page. Instead, a trigger on each
insert and delete keeps the number in ``row_count``, in the same transaction
as the change, so it is exact and costs one primary-key read. Filtered and
per-owner counts still count (an index range; see the query-plan tests).

Cost: every insert and delete of a counted table updates one row of
``row_count``. SQLite has one writer anyway; on PostgreSQL that row's lock is
held until commit, which bounds inserts to one transaction at a time per
table: fine at this service's write rates (the write path is short).
``TRUNCATE`` fires no row triggers: after one, run the migration's
:func:`install` again (it recounts). Without a counter row, pages count.

Per state, too: an administrator's work queue (``filter=eq(state,blocked)``,
``?state=…``) reports how many applications are in those states, and counting
them is a range as long as the queue (on PostgreSQL, the page's largest cost).
The same triggers keep one counter per
state (``application.state=blocked``), moved on every change of ``state``. A
change of state locks its two counters in the order of their names, as every
writer does (the whole-table counter first), so writers wait for each other
but never deadlock.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from peewee import BigIntegerField, CharField, Database

from accountapps.storage.db import is_postgres
from accountapps.storage.models import BaseModel

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RowCount(BaseModel):
    """The number of rows of a table, kept by its triggers."""

    table = CharField(primary_key=True, max_length=64)
    rows = BigIntegerField()


def _state_key(table: str, state: str) -> str:
    return f"{table}.state={state}"


def _state_key_sql(table: str, state: str) -> str:
    """:func:`_state_key` as an SQL expression of the ``state`` expression ``state``."""
    return f"'{table}.state=' || {state}"  # identifiers from our code only (checked)


def _marker(table: str) -> str:
    """The counter row whose presence says the per-state counters are kept."""
    return f"{table}.states"


def _check_identifier(table: str) -> None:
    """Refuse anything but a plain table name (DDL cannot bind identifiers)."""
    if not _IDENTIFIER.match(table):
        raise ValueError(f"not a table name: {table!r}")


def install(db: Database, table: str) -> None:
    """Create the counters of ``table`` (whole, per state) and their triggers; count once.

    Idempotent. ``table`` is a name from our code (DDL cannot bind
    identifiers): it must be a plain identifier with a ``state`` column.
    """
    install_triggers(db, table)
    _recount(db, table)


def install_triggers(db: Database, table: str) -> None:
    """Create (or replace) the triggers that keep ``table``'s counts, without recounting.

    On PostgreSQL one trigger keeps both the whole-table and the per-state
    counters, with plain ``UPDATE``s whose plans PL/pgSQL keeps for the
    session; it replaces the two of migrations 0009 and 0010 (two trigger
    calls per row, and a per-state ``INSERT … ON CONFLICT`` in an SQL function
    planned on every call), which cost more of the server's CPU per create
    (figures: docs and ``make bench``).
    """
    _check_identifier(table)
    db.create_tables([RowCount], safe=True)
    if is_postgres():
        _install_postgres(db, table)
    else:
        _install_sqlite(db, table)


def _install_postgres(db: Database, table: str) -> None:
    db.execute_sql(
        # A counter row that does not exist yet (a state's first row) is created.
        "CREATE OR REPLACE FUNCTION row_count_add(key text, delta bigint) RETURNS void AS $$ "
        "BEGIN UPDATE row_count SET rows = rows + delta WHERE \"table\" = key; "
        "IF NOT FOUND THEN INSERT INTO row_count (\"table\", rows) VALUES (key, delta) "
        "ON CONFLICT (\"table\") DO UPDATE SET rows = row_count.rows + EXCLUDED.rows; "
        "END IF; END; $$ LANGUAGE plpgsql")

    def add(state: str, delta: int) -> str:
        # The usual case is one cached UPDATE; the function only for a missing row.
        key = _state_key_sql(table, state)
        return (f"UPDATE row_count SET rows = rows + ({delta}) WHERE \"table\" = {key}; "  # noqa: S608
                f"IF NOT FOUND THEN PERFORM row_count_add({key}, {delta}); END IF; ")

    whole = f"UPDATE row_count SET rows = rows + (%d) WHERE \"table\" = '{table}'; "  # noqa: S608
    # Every writer locks its counters in the order of their names (the
    # whole-table one, then the states in order), so writers wait for each
    # other but never deadlock.
    db.execute_sql(
        f"CREATE OR REPLACE FUNCTION {table}_counts() RETURNS trigger AS $$ BEGIN "
        f"IF TG_OP = 'INSERT' THEN {whole % 1}{add('NEW.state', 1)}"
        f"ELSIF TG_OP = 'DELETE' THEN {whole % -1}{add('OLD.state', -1)}"
        f"ELSIF OLD.state < NEW.state THEN {add('OLD.state', -1)}{add('NEW.state', 1)}"
        f"ELSIF OLD.state > NEW.state THEN {add('NEW.state', 1)}{add('OLD.state', -1)}"
        f"END IF; RETURN NULL; END; $$ LANGUAGE plpgsql")
    _drop_postgres_triggers(db, table)
    db.execute_sql(
        f"CREATE TRIGGER {table}_counts AFTER INSERT OR DELETE OR UPDATE OF state "
        f"ON {table} FOR EACH ROW EXECUTE FUNCTION {table}_counts()")
    # The two functions of migrations 0009 and 0010, unused now.
    for old in ("row_count", "state_count"):
        db.execute_sql(f"DROP FUNCTION IF EXISTS {table}_{old}()")


def _drop_postgres_triggers(db: Database, table: str) -> None:
    for trigger in ("counts", "row_count", "state_count"):  # this one and 0009's, 0010's
        db.execute_sql(f"DROP TRIGGER IF EXISTS {table}_{trigger} ON {table}")


_SQLITE_TRIGGERS = ("row_count_insert", "row_count_delete", "state_count_insert",
                    "state_count_delete", "state_count_update")


def _install_sqlite(db: Database, table: str) -> None:
    for event, delta in (("INSERT", "+ 1"), ("DELETE", "- 1")):
        db.execute_sql(
            f"CREATE TRIGGER IF NOT EXISTS {table}_row_count_{event.lower()} "  # noqa: S608
            f"AFTER {event} ON {table} BEGIN UPDATE row_count SET rows = rows {delta} "
            f"WHERE \"table\" = '{table}'; END")

    def add(state: str, delta: int) -> str:
        key = _state_key_sql(table, state)
        return (f"INSERT INTO row_count (\"table\", rows) VALUES ({key}, {delta}) "  # noqa: S608
                f"ON CONFLICT (\"table\") DO UPDATE SET rows = rows + ({delta});")

    for name, event, body in (
            ("insert", "INSERT", add("NEW.state", 1)),
            ("delete", "DELETE", add("OLD.state", -1)),
            ("update", "UPDATE OF state",
             add("OLD.state", -1) + " " + add("NEW.state", 1))):
        when = " WHEN OLD.state IS NOT NEW.state" if name == "update" else ""
        db.execute_sql(f"CREATE TRIGGER IF NOT EXISTS {table}_state_count_{name} "
                       f"AFTER {event} ON {table}{when} BEGIN {body} END")


def _recount(db: Database, table: str) -> None:
    """Set every counter of ``table`` from a real count (and the per-state marker)."""
    # Inside the migration's locked transaction: no write slips between these.
    stale = [name for (name,) in RowCount.select(RowCount.table).tuples()
             if name == table or name.startswith(f"{table}.state")]  # exact: LIKE reads _
    if stale:
        RowCount.delete().where(RowCount.table.in_(stale)).execute()
    db.execute_sql(f"INSERT INTO row_count (\"table\", rows) "  # noqa: S608
                   f"SELECT '{table}', COUNT(*) FROM {table}")
    db.execute_sql(f"INSERT INTO row_count (\"table\", rows) "  # noqa: S608
                   f"SELECT {_state_key_sql(table, 'state')}, COUNT(*) FROM {table} GROUP BY state")
    RowCount.insert(table=_marker(table), rows=0).execute()


def drop_triggers(db: Database, table: str) -> None:
    """Stop keeping ``table``'s counts (for a bulk load; :func:`install` recounts after)."""
    _check_identifier(table)
    if is_postgres():
        _drop_postgres_triggers(db, table)
        return
    for trigger in _SQLITE_TRIGGERS:
        db.execute_sql(f"DROP TRIGGER IF EXISTS {table}_{trigger}")


def total(table: str) -> int | None:
    """The number of rows of ``table``, or ``None`` when no counter is kept for it."""
    row = RowCount.select(RowCount.rows).where(RowCount.table == table).tuples().first()
    return None if row is None else int(row[0])


def in_states(table: str, states: Sequence[str]) -> int | None:
    """How many rows of ``table`` are in one of ``states``; ``None`` if not kept."""
    keys = [_marker(table), *{_state_key(table, state) for state in states}]
    found = dict(RowCount.select(RowCount.table, RowCount.rows).where(
        RowCount.table.in_(keys)).tuples())
    if _marker(table) not in found:
        return None
    return sum(int(rows) for key, rows in found.items() if key != _marker(table))


def counted_tables() -> list[str]:
    """The tables whose counts are kept (those the migrations installed)."""
    return [key for (key,) in RowCount.select(RowCount.table).tuples()
            if _IDENTIFIER.match(key)]
