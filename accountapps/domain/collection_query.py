"""Collection queries: ``start``/``limit``/``sortBy``/``filter``/``q`` → one SQL query.

Every collection of the API goes through :func:`query_page`; a resource only
describes itself with a :class:`CollectionSpec`. Filter expressions become peewee
expressions over declared columns: values are always bound parameters, and a
field name that is not declared can never reach SQL.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from peewee import (
    SQL,
    ColumnBase,
    Expression,
    Field,
    ModelSelect,
    NodeList,
)

from accountapps.domain import filter_expr
from accountapps.domain.errors import ApiError
from accountapps.domain.filter_expr import (
    BoolOp,
    Comparison,
    FilterSyntaxError,
    Node,
    NullTest,
    Search,
    TooManySearchTerms,
)
from accountapps.storage import pages
from accountapps.storage.db import is_postgres

DEFAULT_LIMIT = 100


@dataclass(frozen=True)
class FieldSpec:
    """A sortable, filterable field: its column and how to read values for it."""

    column: Field
    kind: str = "string"  # "string" | "datetime" | "enum" | "boolean"
    choices: tuple[str, ...] = ()


@dataclass(frozen=True)
class CollectionSpec:
    """What a collection offers to sort, filter and search on."""

    name: str
    fields: Mapping[str, FieldSpec]
    search_fields: tuple[str, ...]
    default_sort: tuple[str, ...]
    tiebreak: Field
    #: query parameters (besides the paging and query ones) kept in page links
    extra_params: tuple[str, ...] = field(default=())
    #: the columns an item of a page shows (its summary)
    columns: tuple[Field, ...] = field(default=())


@dataclass
class Page:
    """One page of a collection, ready to render."""

    rows: list[Any]
    start: int
    limit: int
    count: int
    params: dict[str, str]  # the query, for page links


def _bad_param(name: str, message: str, status: int = 400) -> ApiError:
    """The reference's rule: ``400`` for a parameter that is not well formed, ``422``
    for one that is well formed but otherwise invalid."""
    return ApiError(
        status, "invalidQueryParameter",
        f"The query parameter {name!r} is not valid: {message}", attributes={"name": name},
    )


#: A well-formed integer: optional minus, ASCII digits (str.isdigit() also admits
#: fullwidth and superscript digits, which int() refuses or reads differently).
_INTEGER = re.compile(r"-?[0-9]+")
#: What a field name looks like (``accountName``): anything else in ``sortBy`` is malformed.
_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9]*")
#: More digits than any page or offset can have.
_MAX_DIGITS = 18


#: A page's links repeat its query, and a link's href is at most 2048 characters
#: (the ``link`` schema): the query, percent-encoded, may take this much of it.
MAX_QUERY_LENGTH = 1800


def _refuse_long_query(params: Mapping[str, str]) -> None:
    """``400`` for a query whose page links would outgrow an href."""
    length = len(urlencode(params, safe=",|()"))
    if length > MAX_QUERY_LENGTH:
        raise ApiError(
            400, "queryTooLong",
            f"The query is too long: {length} characters percent-encoded, at most "
            f"{MAX_QUERY_LENGTH} (the page's links repeat it).",
            attributes={"length": length, "maximum": MAX_QUERY_LENGTH},
            remediation="Shorten the filter or the search, or split the query.",
        )


def parse_int(args: Mapping[str, str], name: str, default: int, maximum: int | None) -> int:
    """A non-negative integer query parameter: ``400`` if it is not an integer at
    all, ``422`` if it is one out of range."""
    raw = args.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        raise _bad_param(name, "it must be a non-negative integer")
    if raw.startswith("-"):
        raise _bad_param(name, "it must not be negative", 422)
    largest = maximum if maximum is not None else 10**_MAX_DIGITS - 1
    if len(raw.lstrip("0")) > _MAX_DIGITS or int(raw) > largest:
        raise _bad_param(name, f"it must be at most {largest}", 422)
    return int(raw)


def ilike(column: Field, pattern: str) -> NodeList:
    """Case-insensitive LIKE with ``\\`` as the escape character, on both databases."""
    operator = "ILIKE" if is_postgres() else "LIKE"
    return NodeList((column, SQL(operator), pattern, SQL("ESCAPE '\\'")))


def escape_like(text: str) -> str:
    """Escape LIKE wildcards so user text matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _value_error(field_name: str, value: str, message: str) -> ApiError:
    return ApiError(
        422, "invalidFilterValue",
        f"The value {value!r} is not valid for {field_name}: {message}",
        attributes={"field": field_name, "value": value},
    )


def parse_datetime(text: str) -> tuple[datetime, bool]:
    """An RFC 3339 date or date-time as naive UTC, and whether it was a bare date."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time()), True
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise ValueError("expected an RFC 3339 date or date-time") from exc
    if parsed.tzinfo is not None:
        try:
            parsed = parsed.astimezone(UTC).replace(tzinfo=None)
        except OverflowError as exc:  # 9999-12-31T23:00-05:00 is in the year 10000 in UTC
            raise ValueError("the moment in UTC is outside years 1 to 9999") from exc
    return parsed, False


def _comparison(spec: FieldSpec, name: str, op: str, values: Sequence[str]) -> Expression:
    column = spec.column
    if op in {"startsWith", "endsWith", "contains"}:
        if spec.kind not in ("string", "enum"):
            raise _value_error(name, values[0], f"{op}() applies to text fields only")
        text = escape_like(values[0])
        pattern = {"startsWith": f"{text}%", "endsWith": f"%{text}", "contains": f"%{text}%"}
        return ilike(column, pattern[op])
    if spec.kind == "datetime":
        parsed = []
        for value in values:
            try:
                parsed.append(parse_datetime(value))
            except ValueError as exc:
                raise _value_error(name, value, str(exc)) from exc
        if op == "in":
            return column.in_([moment for moment, _ in parsed])
        moment, whole_day = parsed[0]
        if whole_day:  # a bare date means the whole UTC day
            if moment.date() == date.max:  # 9999-12-31: no next day ends it
                last = datetime.max
                day = {
                    "eq": (column >= moment) & (column <= last),
                    "ne": (column < moment) | (column > last),
                    "lt": column < moment, "le": column <= last,
                    "gt": column > last, "ge": column >= moment,
                }
                return day[op]
            end = moment + timedelta(days=1)
            day = {
                "eq": (column >= moment) & (column < end),
                "ne": (column < moment) | (column >= end),
                "lt": column < moment, "le": column < end,
                "gt": column >= end, "ge": column >= moment,
            }
            return day[op]
        return _compare(column, op, moment)
    if spec.kind == "enum":
        for value in values:
            if value not in spec.choices:
                raise _value_error(name, value, f"expected one of {', '.join(spec.choices)}")
    if spec.kind == "boolean":
        booleans = []
        for value in values:
            if value not in ("true", "false"):
                raise _value_error(name, value, "expected true or false")
            booleans.append(value == "true")
        values = booleans  # type: ignore[assignment]
    if op == "in":
        return column.in_(list(values))
    return _compare(column, op, values[0])


def _compare(column: Field, op: str, value: Any) -> Expression:
    return {
        "eq": column == value, "ne": column != value, "lt": column < value,
        "le": column <= value, "gt": column > value, "ge": column >= value,
    }[op]


def combine(op: str, parts: Sequence[ColumnBase]) -> ColumnBase:
    """``parts`` joined by ``op`` (``"and"`` or ``"or"``) as a balanced tree, in their order.

    Every fold of a client's list of expressions (the terms of ``q=`` and
    ``search()``, the arguments of ``and()``/``or()``) goes through here; the
    query's few fixed conditions are left to ``where()``. peewee puts each
    binary operation in its own parentheses, so a left-deep chain of n terms
    nests n deep: SQLite's parser overflowed past about 80 levels, and peewee's
    (and :mod:`accountapps.storage.query_shapes`') recursive walks hit Python's recursion limit past
    a few hundred. Pairing neighbours level by level nests only log2(n) deep;
    AND and OR are associative, so the result is the same.
    """
    if op not in ("and", "or"):
        raise ValueError(f"cannot combine with {op!r}")
    if not parts:
        raise ValueError("nothing to combine")
    level = list(parts)
    while len(level) > 1:
        paired = [_join(op, level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])  # the odd one out joins at a higher level, still last
        level = paired
    return level[0]


def _join(op: str, left: ColumnBase, right: ColumnBase) -> ColumnBase:
    return (left & right) if op == "and" else (left | right)


def search_expression(spec: CollectionSpec, text: str) -> Expression | None:
    """``q`` semantics: any word of a group, every ``and``-ed group, in any name field.

    Raises :class:`TooManySearchTerms` past ``filter_expr.MAX_SEARCH_TERMS``.
    """
    groups = filter_expr.search_groups(text)
    if not groups:
        return None
    columns = [spec.fields[name].column for name in spec.search_fields]
    return combine("and", [
        combine("or", [ilike(column, f"%{escape_like(term)}%")
                       for term in group for column in columns])
        for group in groups
    ])


def translate(spec: CollectionSpec, node: Node) -> Expression:
    """A filter syntax tree as a peewee expression (``422`` for unknown fields)."""
    if isinstance(node, BoolOp):
        parts = [translate(spec, child) for child in node.children]
        if node.op == "not":
            return ~parts[0]
        return combine(node.op, parts)
    if isinstance(node, Search):
        return search_expression(spec, node.text) or SQL("1 = 1")
    field_spec = spec.fields.get(node.field)
    if field_spec is None:
        raise ApiError(
            422, "invalidFilterField",
            f"{node.field!r} is not a field this collection can be filtered on.",
            attributes={"field": node.field, "allowed": sorted(spec.fields)},
            remediation=f"Use one of: {', '.join(sorted(spec.fields))}.",
        )
    if isinstance(node, NullTest):
        return field_spec.column.is_null(node.is_null)
    assert isinstance(node, Comparison)
    return _comparison(field_spec, node.field, node.op, node.values)


def order_by(spec: CollectionSpec, sort_by: str | None) -> list[Any]:
    """ORDER BY terms for ``sortBy`` (``422`` for unknown fields), ending in a tiebreak."""
    keys = [key.strip() for key in (sort_by or "").split(",") if key.strip()] or list(
        spec.default_sort)
    terms = []
    for key in keys:
        descending = key.startswith("-")
        name = key.lstrip("+-")
        field_spec = spec.fields.get(name)
        if field_spec is None:
            # A name that no field could have is malformed (400); a field name
            # this collection does not sort by is well formed but invalid (422).
            raise ApiError(
                422 if _FIELD_NAME.fullmatch(name) else 400, "invalidSortField",
                f"{name!r} is not a field this collection can be sorted by.",
                attributes={"name": "sortBy", "field": name, "allowed": sorted(spec.fields)},
            )
        column = field_spec.column
        if getattr(column, "null", True) is False:
            # NOT NULL: no NULLS clause, so PostgreSQL can read an index in order
            # backwards (DESC NULLS LAST is not a backward (x ASC) index scan:
            # it sorted all 15,000 matches of a page at a million rows).
            terms.append(column.desc() if descending else column.asc())
        else:
            # NULLS LAST on both databases so that pages agree across them
            terms.append(column.desc(nulls="LAST") if descending else column.asc(nulls="LAST"))
    terms.append(spec.tiebreak.asc())
    return terms


def alternatives(args: Mapping[str, str], name: str, choices: Sequence[str] | None = None
                 ) -> list[str] | None:
    """A simple filter ``?name=a|b``: its alternatives, or ``None`` when absent."""
    raw = args.get(name)
    if raw is None or raw == "":
        return None
    values = [value for value in raw.split("|") if value != ""]
    if choices is not None:
        for value in values:
            if value not in choices:
                # An unknown name is well formed (422); anything else is not (400).
                raise _bad_param(name, f"{value!r} is not one of {', '.join(choices)}",
                                 422 if _FIELD_NAME.fullmatch(value) else 400)
    return values


def list_page(items: Sequence[Any], args: Mapping[str, str], *, max_limit: int,
              params: Mapping[str, str] | None = None) -> Page:
    """One page of a collection held in memory (the product catalog): ``start`` and
    ``limit`` read and refused exactly as for the collections in the database;
    ``params`` are the other query parameters its page links keep."""
    start = parse_int(args, "start", 0, None)
    limit = parse_int(args, "limit", DEFAULT_LIMIT, max_limit)
    return Page(rows=list(items[start:start + limit]), start=start, limit=limit,
                count=len(items), params=dict(params or {}))


def query_page(
    spec: CollectionSpec,
    query: ModelSelect,
    args: Mapping[str, str],
    *,
    max_limit: int,
    where: Sequence[Expression] = (),
) -> Page:
    """Apply paging, sorting, ``filter`` and ``q`` (plus ``where``) and run the query."""
    params = {
        name: args[name]
        for name in ("sortBy", "filter", "q", *spec.extra_params)
        if args.get(name)
    }
    _refuse_long_query(params)
    start = parse_int(args, "start", 0, None)
    limit = parse_int(args, "limit", DEFAULT_LIMIT, max_limit)
    conditions = list(where)
    if args.get("filter"):
        try:
            tree = filter_expr.parse(args["filter"])
        except FilterSyntaxError as exc:
            raise ApiError(
                400, "malformedFilter", f"The filter is not well formed: {exc}",
                attributes={"name": "filter", "position": exc.position},
                remediation="See the filter grammar in the API documentation.",
            ) from exc
        conditions.append(translate(spec, tree))
    if args.get("q"):
        try:
            searched = search_expression(spec, args["q"])
        except TooManySearchTerms as exc:
            raise _bad_param("q", str(exc)) from exc
        if searched is not None:
            conditions.append(searched)
    ordering = order_by(spec, args.get("sortBy"))
    count = pages.kept_count(query, conditions)  # before the conditions join the query
    for condition in conditions:
        query = query.where(condition)
    if count is None:
        count = pages.count(query)
    rows = pages.records(query.order_by(*ordering).offset(start).limit(limit)) if (
        limit and start < count) else []
    return Page(rows=rows, start=start, limit=limit, count=count, params=params)
