"""The SQL of a collection query, generated once per shape of query.

peewee builds a page's ``SELECT`` and its ``COUNT`` afresh for every request by
walking the query tree (a large share of a page's CPU), though a client asks
the same few shapes again and again (the same
filter and sort, other values). Here a short walk of the query's ``WHERE``
and ``ORDER BY`` gives its *shape* (operators, columns, how many values, the
text of literal SQL) and its values in order; peewee's SQL for that shape is
kept, and later queries of the shape only bind their own values.

Exactness: the first query of a shape is run with peewee's own SQL and
values, and the shape is kept only if the values this walk found are exactly
peewee's, in its order; otherwise the shape is marked as one peewee always
builds. Anything the walk does not know (a join, a subquery, a function, a
``GROUP BY``) is left to peewee.

The walk reads peewee's private query attributes (``_where``, ``_order_by``,
``_joins``, ...), which peewee may rename or reshape in any release. It is
reached only through :func:`_select_shape`: if a read fails there, that query
takes peewee's public ``query.sql()`` instead of answering an error
(setup.cfg bounds peewee's major version, the likeliest time for such a change).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable
from typing import Any

from peewee import (
    SQL,
    Expression,
    Field,
    ModelSelect,
    Negated,
    NodeList,
    Ordering,
    Select,
    fn,
)

from accountapps.storage.db import database, prepared

#: shape -> peewee's SQL for it, or None when the shape's values could not be
#: matched to peewee's (always built by peewee).
_SQL: dict[Hashable, str | None] = {}
#: Clients' filters have many shapes: at most this many are kept.
MAX_SHAPES = 512
_MISSING: Any = object()

_SIMPLE = (str, int, float, bool)


#: What a read of peewee's private attributes raises once peewee has changed them.
_PEEWEE_CHANGED = (AttributeError, KeyError, TypeError)
#: Set at the first such failure, so it is logged once, not per request.
_warned = False


class _Unknown(Exception):
    """A node this walk does not know: peewee builds the query."""


def _column(node: Field) -> tuple[str, str]:
    return node.model._meta.table_name, node.column_name


def _value(value: Any, converter: Any, values: list[Any]) -> Hashable:
    if value is None:
        return "NULL"
    if isinstance(value, (list, tuple)):
        for item in value:
            if not (isinstance(item, _SIMPLE) or hasattr(item, "isoformat")):
                raise _Unknown
            values.append(converter(item) if converter else item)
        return ("list", len(value))
    if isinstance(value, _SIMPLE) or hasattr(value, "isoformat"):
        values.append(converter(value) if converter else value)
        return type(value).__name__
    raise _Unknown


def _shape(node: Any, values: list[Any], converter: Any = None) -> Hashable:
    """``node``'s shape; its values (converted as peewee would) appended to ``values``."""
    if isinstance(node, Field):
        return ("field", *_column(node))
    if isinstance(node, Expression):
        lhs = node.lhs
        own = lhs.db_value if isinstance(lhs, Field) and lhs._coerce else None
        left = _shape(lhs, values, own)  # values in the order of the SQL: left first
        rhs = node.rhs
        right = (_shape(rhs, values, own) if hasattr(rhs, "__sql__")
                 else _value(rhs, own, values))
        return ("expr", node.op, node.flat, left, right)
    if isinstance(node, NodeList):
        parts = tuple(_shape(part, values, converter) if hasattr(part, "__sql__")
                      else _value(part, converter, values) for part in node.nodes)
        return ("list", node.glue, node.parens, parts)
    if isinstance(node, Negated):
        return ("not", _shape(node.node, values, converter))
    if isinstance(node, Ordering):
        return ("order", _shape(node.node, values), node.direction, node.collation, node.nulls)
    if type(node) is SQL:
        values.extend(node.params or ())
        return ("sql", node.sql, len(node.params or ()))
    raise _Unknown


def _select_shape(query: ModelSelect, values: list[Any], *, ordered: bool = True) -> Hashable:
    """The shape of a plain single-table ``SELECT`` of columns, or :class:`_Unknown`.

    ``ordered=False``: as if its ``ORDER BY`` were removed (for its count).
    The only way into the walk, and so to peewee's private attributes: its
    callers fall back to peewee on :data:`_PEEWEE_CHANGED` as on ``_Unknown``.
    """
    if (type(query) is not ModelSelect or query._from_list != [query.model] or query._joins
            or query._group_by or query._having is not None or query._windows is not None
            or query._distinct is not None or query._simple_distinct
            or query._for_update is not None or query._cte_list is not None
            or query._lateral or not all(isinstance(c, Field) for c in query._returning)):
        raise _Unknown
    where = None if query._where is None else _shape(query._where, values)
    ordering = tuple(_shape(term, values) for term in query._order_by or ()) if ordered else ()
    if query._limit is not None:
        values.append(query._limit)
    if query._offset is not None:
        values.append(query._offset)
    return (query.model._meta.table_name, tuple(_column(c) for c in query._returning),
            where, ordering, query._limit is not None, query._offset is not None,
            type(database.obj).__name__)


def _peewee_changed(error: Exception) -> None:
    """Say once that the walk no longer fits this peewee (every query then takes peewee's path)."""
    global _warned
    if not _warned:
        _warned = True
        logging.getLogger(__name__).warning(
            "query shapes: peewee's private attributes are not as expected (%r); "
            "building collection SQL with peewee", error)


def _cached(key: Hashable, values: list[Any], build: Callable[[], Select]
            ) -> tuple[str, list[Any]]:
    """The kept SQL of ``key`` with ``values``; else peewee's, kept if the values match."""
    sql = _SQL.get(key, _MISSING)
    if isinstance(sql, str):
        return sql, values
    built_sql, built_params = build().sql()
    if sql is _MISSING and len(_SQL) < MAX_SHAPES:
        _SQL[key] = built_sql if list(built_params) == values else None
    return built_sql, list(built_params)


def select_sql(query: ModelSelect) -> tuple[str, list[Any]]:
    """``query.sql()``, from the shape's kept SQL where possible; prepared where that pays."""
    values: list[Any] = []
    try:
        key = ("select", _select_shape(query, values))
    except _Unknown:
        return prepared(*query.sql())
    except _PEEWEE_CHANGED as error:
        _peewee_changed(error)
        return prepared(*query.sql())
    return prepared(*_cached(key, values, lambda: query))


def count_sql(query: ModelSelect) -> tuple[str, list[Any]]:
    """The SQL of ``SELECT COUNT(1) FROM (query without its order)`` and its values."""
    def build() -> Select:
        wrapped = query.order_by().select(SQL("1")).alias("_wrapped")
        return Select([wrapped], [fn.COUNT(SQL("1"))]).bind(query.model._meta.database)

    values: list[Any] = []
    try:
        key = ("count", _select_shape(query, values, ordered=False))
    except _Unknown:
        return prepared(*build().sql())
    except _PEEWEE_CHANGED as error:
        _peewee_changed(error)
        return prepared(*build().sql())
    return prepared(*_cached(key, values, build))
