"""The Apiture ``filter=`` expression grammar: a parser to a small syntax tree.

Grammar (prefix, function-call notation)::

    expr  := NAME "(" [ arg { "," arg } ] ")"
    arg   := expr | value
    value := 'quoted' | "quoted" | bare

Inside quotes, a doubled quote stands for itself (``'O''Brien'``). Bare values
run to the next ``,`` or ``)`` and are trimmed. For comparisons the first
argument is the field, the rest are values. The tree is translated to SQL by
:mod:`accountapps.domain.collection_query`; nothing here touches the database.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LENGTH = 4000
MAX_DEPTH = 32
#: Terms (words and quoted phrases, not the keyword ``and``) of one ``q=`` or
#: ``search()``: each becomes a LIKE per name field, so this bounds the SQL.
MAX_SEARCH_TERMS = 32

COMPARISONS = {"eq", "ne", "lt", "le", "gt", "ge", "startsWith", "endsWith", "contains"}
NULL_TESTS = {"isNull", "isNotNull"}
BOOLEANS = {"and", "or", "not"}


class FilterSyntaxError(ValueError):
    """A filter that is not well formed (answered ``400``)."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


class TooManySearchTerms(ValueError):
    """A search of more than :data:`MAX_SEARCH_TERMS` terms (answered ``400``)."""

    def __init__(self, count: int) -> None:
        super().__init__(
            f"a search may have at most {MAX_SEARCH_TERMS} terms (this one has {count})")
        self.count = count


@dataclass(frozen=True)
class Comparison:
    op: str  # one of COMPARISONS, or "in"
    field: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class NullTest:
    field: str
    is_null: bool


@dataclass(frozen=True)
class Search:
    text: str


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or" | "not"
    children: tuple[Node, ...]


Node = Comparison | NullTest | Search | BoolOp


@dataclass(frozen=True)
class _Value:
    text: str
    quoted: bool
    position: int


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def error(self, message: str, position: int | None = None) -> FilterSyntaxError:
        at = self.pos if position is None else position
        return FilterSyntaxError(f"{message} at position {at}", at)

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def peek(self) -> str:
        self.skip_space()
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "end of filter"
            raise self.error(f"expected {char!r} but found {found}")
        self.pos += 1

    def parse(self) -> Node:
        node = self.call(0)
        if self.peek():
            raise self.error("unexpected text after the expression")
        return node

    def name(self) -> tuple[str, int]:
        self.skip_space()
        start = self.pos
        while self.pos < len(self.text) and (
            self.text[self.pos].isalnum() or self.text[self.pos] in "_."
        ):
            self.pos += 1
        if start == self.pos:
            raise self.error("expected an operator name")
        return self.text[start:self.pos], start

    def call(self, depth: int) -> Node:
        if depth > MAX_DEPTH:
            raise self.error("expression nested too deeply")
        op, start = self.name()
        self.expect("(")
        if op in BOOLEANS:
            children = [self.call(depth + 1)]
            while self.peek() == ",":
                self.pos += 1
                children.append(self.call(depth + 1))
            self.expect(")")
            if op == "not" and len(children) != 1:
                raise self.error("not() takes exactly one expression", start)
            return BoolOp(op, tuple(children))
        args = [self.value()]
        while self.peek() == ",":
            self.pos += 1
            args.append(self.value())
        self.expect(")")
        if op == "search":
            if len(args) != 1:
                raise self.error("search() takes exactly one string", start)
            try:
                search_groups(args[0].text)  # checked here, so that the error has a position
            except TooManySearchTerms as exc:
                raise self.error(f"search() takes at most {MAX_SEARCH_TERMS} terms, not "
                                 f"{exc.count}", start) from exc
            return Search(args[0].text)
        field = args[0]
        if field.quoted or not field.text or not all(
            part.isidentifier() for part in field.text.split(".")
        ):
            raise self.error(f"{op}() needs a field name as its first argument", field.position)
        values = tuple(arg.text for arg in args[1:])
        if op in NULL_TESTS:
            if values:
                raise self.error(f"{op}() takes exactly one field", start)
            return NullTest(field.text, op == "isNull")
        if op in COMPARISONS:
            if len(values) != 1:
                raise self.error(f"{op}() takes a field and one value", start)
            return Comparison(op, field.text, values)
        if op == "in":
            if not values:
                raise self.error("in() takes a field and at least one value", start)
            return Comparison(op, field.text, values)
        raise self.error(f"unknown operator {op!r}", start)

    def value(self) -> _Value:
        char = self.peek()
        start = self.pos
        if char in ("'", '"'):
            self.pos += 1
            chunks = []
            while True:
                end = self.text.find(char, self.pos)
                if end < 0:
                    raise self.error("unterminated quoted string", start)
                chunks.append(self.text[self.pos:end])
                self.pos = end + 1
                if self.pos < len(self.text) and self.text[self.pos] == char:
                    chunks.append(char)  # a doubled quote stands for itself
                    self.pos += 1
                    continue
                return _Value("".join(chunks), True, start)
        if char == "(" or not char:
            raise self.error("expected a value")
        while self.pos < len(self.text) and self.text[self.pos] not in ",()'\"":
            self.pos += 1
        if self.pos < len(self.text) and self.text[self.pos] in "('\"":
            raise self.error(f"unexpected {self.text[self.pos]!r} in a value")
        return _Value(self.text[start:self.pos].strip(), False, start)


def parse(text: str) -> Node:
    """Parse a filter expression; raise :class:`FilterSyntaxError` if malformed."""
    if len(text) > MAX_LENGTH:
        raise FilterSyntaxError(f"filter longer than {MAX_LENGTH} characters", MAX_LENGTH)
    if not text.strip():
        raise FilterSyntaxError("empty filter", 0)
    return _Parser(text).parse()


def search_groups(text: str) -> list[list[str]]:
    """Split a ``q`` search into AND-ed groups of OR-ed terms.

    Words match if any appears; ``"a phrase"`` is one term; the keyword ``and``
    between terms requires both sides (Apiture searching conventions). More
    than :data:`MAX_SEARCH_TERMS` terms raise :class:`TooManySearchTerms`.
    """
    terms: list[str] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text[i] == '"':
            end = text.find('"', i + 1)
            end = len(text) if end < 0 else end
            if text[i + 1:end].strip():
                terms.append(text[i + 1:end].strip())
            i = end + 1
        else:
            end = i
            while end < len(text) and not text[end].isspace() and text[end] != '"':
                end += 1
            terms.append(text[i:end])
            i = end
    groups: list[list[str]] = [[]]
    for term in terms:
        if term.lower() == "and":
            if groups[-1]:
                groups.append([])
        else:
            groups[-1].append(term)
    count = sum(len(group) for group in groups)
    if count > MAX_SEARCH_TERMS:
        raise TooManySearchTerms(count)
    return [group for group in groups if group]
