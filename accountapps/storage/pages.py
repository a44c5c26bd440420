"""Reading a collection page fast: its rows as light records, and its count.

Behind :func:`accountapps.domain.collection_query.query_page`, which decides
what to read; here is how: the SQL kept per query shape (:mod:`query_shapes`),
only the columns that need converting converted, and the count the triggers
keep (:mod:`row_counts`) where it answers the question. Where peewee's private
attributes are not what these expect, peewee's own path answers instead.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from peewee import (
    OP,
    AutoField,
    CharField,
    Expression,
    Field,
    IntegerField,
    ModelSelect,
    TextField,
)

from accountapps.storage import row_counts
from accountapps.storage.query_shapes import count_sql, select_sql

#: Columns whose database value is already the Python value (no converter needed).
_AS_STORED = (CharField, TextField, IntegerField, AutoField)


@lru_cache(maxsize=64)
def _record_type(names: tuple[str, ...]) -> type:
    return namedtuple("Record", names)


def records(query: ModelSelect) -> list[Any]:
    """Run ``query``; its rows as read-only records with the selected columns as attributes.

    peewee builds a model instance per row, through every column's converter;
    for a page of 100 that was a large share of the request. Here only
    the columns that need it (dates, JSON, ...) are converted. A selection of
    anything but plain model fields takes peewee's own path.
    """
    selected = getattr(query, "_returning", None)  # peewee's private attribute
    if not isinstance(selected, (list, tuple)) or not all(
            isinstance(column, Field) for column in selected):
        return list(query)
    record = _record_type(tuple(column.name for column in selected))
    convert = [(index, column.python_value) for index, column in enumerate(selected)
               if type(column) not in _AS_STORED]
    result = []
    for raw in query.model._meta.database.execute_sql(*select_sql(query)):
        if convert:
            raw = list(raw)
            for index, python_value in convert:
                raw[index] = python_value(raw[index])
        result.append(record._make(raw))
    return result


def kept_count(query: ModelSelect, conditions: Sequence[Expression]) -> int | None:
    """The count the triggers keep, when it answers the question (:mod:`row_counts`).

    The whole table (an administrator, nothing filtered), or an
    administrator's page filtered on nothing but the state (the work queue);
    ``None`` for anything else, which an index range counts.
    """
    try:
        scoped = query._where is not None  # to an owner (the caller's conditions not yet added)
    except AttributeError:  # peewee changed its private attributes: count the rows
        return None
    if scoped:
        return None
    table = query.model._meta.table_name
    if not conditions:
        return row_counts.total(table)
    states = _only_states(conditions)
    return None if states is None else row_counts.in_states(table, states)


def _only_states(conditions: Sequence[Expression]) -> list[str] | None:
    """The states ``conditions`` allow when they restrict nothing but ``state``."""
    allowed: set[str] | None = None
    for condition in conditions:
        if not (isinstance(condition, Expression) and isinstance(condition.lhs, Field)
                and condition.lhs.name == "state"):
            return None
        rhs = condition.rhs
        if condition.op == OP.EQ and isinstance(rhs, str):
            values = {rhs}
        elif (condition.op == OP.IN and isinstance(rhs, (list, tuple))
              and all(isinstance(value, str) for value in rhs)):
            values = set(rhs)
        else:
            return None
        allowed = values if allowed is None else allowed & values
    return None if allowed is None else sorted(allowed)


def count(query: ModelSelect) -> int:
    """How many rows ``query`` matches, as peewee's ``count()`` asks, prepared where that pays."""
    return query.model._meta.database.execute_sql(*count_sql(query)).fetchone()[0]
