"""Exact row counts of whole tables without counting: a counter kept by triggers.

An administrator's unfiltered page must report ``count``, the number of every
application; ``COUNT(*)`` reads a whole index for that (25-40 ms at a million
rows on SQLite, more on PostgreSQL), on every page. Instead, a trigger on each
insert and delete keeps the number in ``row_count``, in the same transaction
as the change, so it is exact and costs one primary-key read. Filtered and
per-owner counts still count (an index range; see the query-plan tests).

Cost: every insert and delete of a counted table updates one row of
``row_count``. SQLite has one writer anyway; on PostgreSQL that row's lock is
held until commit, which bounds inserts to one transaction at a time per
table: fine at this service's write rates (the write path is a few ms).
``TRUNCATE`` fires no row triggers: after one, run the migration's
:func:`install` again (it recounts). Without a counter row, pages count.
"""

from __future__ import annotations

import re

from peewee import BigIntegerField, CharField, Database

from .db import is_postgres
from .models import BaseModel

_IDENTIFIER = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class RowCount(BaseModel):
    """The number of rows of a table, kept by its triggers."""

    table = CharField(primary_key=True, max_length=64)
    rows = BigIntegerField()


def install(db: Database, table: str) -> None:
    """Create the counter of ``table`` and its triggers, and count it once (idempotent).

    ``table`` is a name from our code (DDL cannot bind identifiers): it must be
    a plain identifier.
    """
    if not _IDENTIFIER.match(table):
        raise ValueError(f"not a table name: {table!r}")
    db.create_tables([RowCount], safe=True)
    if is_postgres():
        db.execute_sql(
            f"CREATE OR REPLACE FUNCTION {table}_row_count() RETURNS trigger AS $$ BEGIN "  # noqa: S608
            f"UPDATE row_count SET rows = rows + (CASE TG_OP WHEN 'INSERT' THEN 1 ELSE -1 END) "
            f"WHERE \"table\" = '{table}'; RETURN NULL; END; $$ LANGUAGE plpgsql")
        db.execute_sql(f"DROP TRIGGER IF EXISTS {table}_row_count ON {table}")
        db.execute_sql(
            f"CREATE TRIGGER {table}_row_count AFTER INSERT OR DELETE ON {table} "
            f"FOR EACH ROW EXECUTE FUNCTION {table}_row_count()")
    else:
        for event, delta in (("INSERT", "+ 1"), ("DELETE", "- 1")):
            db.execute_sql(
                f"CREATE TRIGGER IF NOT EXISTS {table}_row_count_{event.lower()} "  # noqa: S608
                f"AFTER {event} "
                f"ON {table} BEGIN UPDATE row_count SET rows = rows {delta} "
                f"WHERE \"table\" = '{table}'; END")
    # Inside the migration's locked transaction: no write slips between these.
    RowCount.delete().where(RowCount.table == table).execute()
    db.execute_sql(f"INSERT INTO row_count (\"table\", rows) "  # noqa: S608
                   f"SELECT '{table}', COUNT(*) FROM {table}")


def total(table: str) -> int | None:
    """The number of rows of ``table``, or ``None`` when no counter is kept for it."""
    row = RowCount.select(RowCount.rows).where(RowCount.table == table).tuples().first()
    return None if row is None else int(row[0])
