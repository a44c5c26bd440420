"""Fixed-shape statements whose SQL, or whose reading, is worked out once.

peewee builds an ``INSERT`` or ``UPDATE`` afresh on every call, and for the
write every request makes (an application's 15 columns, its audit record) that
costs more than the database needs to run it. These statements never change
shape, so their text is cached; values
still go through each field's ``db_value`` (JSON, timestamps), exactly as
peewee would bind them, and through the driver's placeholders.

Reading is the mirror image: :func:`first_row` turns a fixed query's row into
a model with each field's ``python_value``, matching the columns to fields
once per statement instead of once per query as peewee does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from peewee import AutoField, Field, Model

from accountapps.storage.db import database, execute_later, is_postgres, prepared

#: (statement, model, column names..., database class) -> SQL text.
_SQL: dict[tuple[Any, ...], str] = {}
#: (model, SELECT text) -> per column: (field name, python_value or None).
_READERS: dict[tuple[type[Model], str], list[tuple[str, Callable[[Any], Any] | None]]] = {}


def _field(model: type[Model], name: str) -> Field:
    meta = model._meta
    return meta.fields.get(name) or meta.columns[name]


def _sql(key: tuple[Any, ...], build: Any) -> str:
    key = (*key, type(database.obj))
    sql = _SQL.get(key)
    if sql is None:
        sql = _SQL[key] = build(database.obj.quote, database.obj.param)
    return sql


def _insert_parts(model: type[Model], values: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The ``INSERT INTO t (columns)`` head and its values, with peewee's defaults."""
    row = dict(values)
    for field in model._meta.sorted_fields:
        if field.name not in row and field.column_name not in row and not isinstance(
                field, AutoField) and field.default is not None:
            row[field.name] = field.default() if callable(field.default) else field.default
    fields = [_field(model, name) for name in row]
    names = tuple(field.column_name for field in fields)

    def build(quote: str, _param: str) -> str:
        columns = ", ".join(f"{quote[0]}{name}{quote[1]}" for name in names)
        # Identifiers come from the models' metadata, never from a request.
        return f"INSERT INTO {quote[0]}{model._meta.table_name}{quote[1]} ({columns})"

    head = _sql(("insert", model, *names), build)
    return head, [field.db_value(value) for field, value in zip(fields, row.values(), strict=True)]


def _placeholders(count: int) -> str:
    return ", ".join([database.obj.param] * count)


def insert(model: type[Model], values: Mapping[str, Any]) -> None:
    """``INSERT`` one row of ``values`` (field or column names), with peewee's defaults."""
    head, params = _insert_parts(model, values)
    # Nothing reads an INSERT's result: it may wait for the COMMIT.
    execute_later(f"{head} VALUES ({_placeholders(len(params))})", params)


def as_updated(row: Model, values: Mapping[str, Any]) -> Model:
    """``row`` as a successful ``update_where(…, values, …)`` on it left it in the database.

    Nothing in the database changes a row behind an UPDATE (no trigger writes
    to it, no column is computed), so reading it back would return exactly this.
    """
    return type(row)(**{**row.__data__, **values})


#: A row to insert: ``(model, values)``.
Insert = tuple[type[Model], Mapping[str, Any]]


def update_where(model: type[Model], values: Mapping[str, Any],
                 where: Sequence[tuple[str, Any]], *,
                 then_insert: Insert | Sequence[Insert] | None = None) -> int:
    """``UPDATE … SET values WHERE`` each (field, value) of ``where`` holds; the row count.

    ``then_insert=(model, values)`` (or a list of them): insert those rows too,
    if and only if a row was updated (a state change, its audit record and its
    event). On PostgreSQL all are one statement (the ``UPDATE`` in a ``WITH``,
    each ``INSERT`` selecting from it), so an action is one round trip, atomic
    without ``BEGIN``/``COMMIT``; SQLite cannot write in a ``WITH`` and runs
    them in the caller's transaction.
    """
    fields = [_field(model, name) for name in values]
    conditions = [(_field(model, name), value) for name, value in where]
    names = tuple(field.column_name for field in fields)
    keys = tuple(field.column_name for field, _ in conditions)

    def build(quote: str, param: str) -> str:
        def q(name: str) -> str:
            return f"{quote[0]}{name}{quote[1]}"
        # Identifiers come from the models' metadata, never from a request.
        return (f"UPDATE {q(model._meta.table_name)} "  # noqa: S608
                f"SET {', '.join(f'{q(name)} = {param}' for name in names)} "
                f"WHERE {' AND '.join(f'({q(name)} = {param})' for name in keys)}")

    sql = _sql(("update", model, names, keys), build)
    params = [field.db_value(value) for field, value in zip(fields, values.values(), strict=True)]
    params += [field.db_value(value) for field, value in conditions]
    # A write of a fixed shape, as the reads are: PostgreSQL parses and plans it
    # once per session (``prepared``), not on every PATCH or action.
    if not then_insert:
        return database.execute_sql(*prepared(sql, params)).rowcount
    inserts = [then_insert] if isinstance(then_insert[0], type) else list(then_insert)
    parts = [_insert_parts(*insert) for insert in inserts]  # type: ignore[misc]
    if is_postgres():
        shapes = tuple((head, len(row)) for head, row in parts)

        def build_with(_quote: str, _param: str) -> str:
            # The last INSERT's row count is the UPDATE's: one row selected per
            # row changed; the others run as data-modifying WITH clauses.
            clauses = [f"changed AS ({sql} RETURNING 1)"]
            clauses += [
                f"inserted{index} AS ({head} SELECT {_placeholders(count)} FROM changed)"  # noqa: S608
                for index, (head, count) in enumerate(shapes[:-1])]
            head, count = shapes[-1]
            return (f"WITH {', '.join(clauses)} "  # noqa: S608 (our metadata only)
                    f"{head} SELECT {_placeholders(count)} FROM changed")

        statement = _sql(("update_then", sql, *shapes), build_with)
        return database.execute_sql(*prepared(
            statement, [*params, *(value for _head, row in parts for value in row)])).rowcount
    updated = database.execute_sql(sql, params).rowcount
    if updated:
        for head, row in parts:
            database.execute_sql(f"{head} VALUES ({_placeholders(len(row))})", row)
    return updated


def delete_where(model: type[Model], where: Sequence[tuple[str, Any]]) -> int:
    """``DELETE … WHERE`` each (field, value) of ``where`` holds; the row count."""
    query = model.delete()
    for name, value in where:
        query = query.where(_field(model, name) == value)
    return query.execute()


def first_row(model: type[Model], sql: str, params: Sequence[Any]) -> Model | None:
    """The first row of ``sql`` (a ``SELECT`` of ``model``'s columns) as a ``model``.

    What ``next(iter(model.raw(sql, *params)), None)`` returns, for a fraction
    of its cost: peewee matches the cursor's columns to the model's fields on
    every query (on PostgreSQL, a by-id read spent more time there and in
    building the row than in the driver); here that is done on a statement's
    first run and kept.
    """
    cursor = database.execute_sql(sql, params)
    row = cursor.fetchone()
    if row is None:
        return None
    key = (model, sql)
    reader = _READERS.get(key)
    if reader is None:
        columns = model._meta.columns
        names = [description[0] for description in cursor.description]
        reader = _READERS[key] = [
            (columns[name].name, columns[name].python_value) if name in columns
            else (name, None) for name in names]
    # What ``model(__no_default__=1, **values)`` builds, less a descriptor call per
    # field: each would only store its value in ``__data__`` and mark it dirty.
    instance = model.__new__(model)
    data = instance.__data__ = {}
    instance._dirty = set()
    instance.__rel__ = {}
    for (name, convert), value in zip(reader, row, strict=True):
        if convert is None:  # a column that is no field: an attribute, as peewee sets it
            setattr(instance, name, value)
        else:
            data[name] = value if value is None else convert(value)
    return instance
