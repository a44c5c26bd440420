"""``_links`` in request bodies load exactly as marshmallow's nested Link schema loads them.

``LinksField`` takes plainly valid links without a nested schema load per link
(a quarter of a create body's validation); everything else goes through
marshmallow. Each case here is loaded both ways and must give the same result,
or the same errors, but for one deliberate difference: a link's errors are
named after its relation (``_links.self.href``), where marshmallow files them
one level down, under ``value``.
"""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import Schema, ValidationError, fields, validate

from accountapps.representations.common import HREF_MAX, LinkSchema, links_field

HREF = "https://www.example.com/products/1"


@pytest.fixture(autouse=True)
def _configured(app):
    """The link rule reads the app's configuration (www.example.com is a link host)."""
    with app.app_context():
        yield


class Fast(Schema):
    _links = links_field()


class Reference(Schema):
    """The same field as marshmallow alone loads it."""

    _links = fields.Dict(keys=fields.String(validate=validate.Length(max=128)),
                         values=fields.Nested(LinkSchema), data_key="_links")


def load(schema: Schema, links: Any) -> tuple[str, Any]:
    try:
        return "ok", schema.load({"_links": links})
    except ValidationError as exc:
        return "error", exc.messages


def by_relation(result: tuple[str, Any]) -> tuple[str, Any]:
    """marshmallow's errors with each link's moved from under ``value`` to its relation."""
    outcome, value = result
    links = value.get("_links") if outcome == "error" else None
    if not isinstance(links, dict):
        return result
    return outcome, {**value, "_links": {
        rel: problems["value"] if isinstance(problems, dict) and list(problems) == ["value"]
        else problems for rel, problems in links.items()}}


CASES = {
    "one href": {"self": {"href": HREF}},
    "every field": {"self": {"href": HREF, "title": "T", "type": "application/json",
                             "name": "n", "templated": False, "profile": HREF}},
    "fields out of order": {"self": {"profile": HREF, "templated": True, "href": HREF}},
    "several links": {"self": {"href": HREF}, "apiture:product": {"href": HREF, "title": "P"}},
    "no links": {},
    "empty href": {"self": {"href": ""}},
    "no href": {"self": {"title": "T"}},
    "href not a string": {"self": {"href": 7}},
    "href too long": {"self": {"href": "h" * (HREF_MAX + 1)}},
    "href at the limit": {"self": {"href": "h" * HREF_MAX}},
    "title too long": {"self": {"href": HREF, "title": "t" * 256}},
    "title null": {"self": {"href": HREF, "title": None}},
    "templated as a string": {"self": {"href": HREF, "templated": "true"}},
    "templated as a number": {"self": {"href": HREF, "templated": 1}},
    "unknown key": {"self": {"href": HREF, "rel": "x"}},
    "ignored key": {"self": {"href": HREF, "_profile": HREF}},
    "link not an object": {"self": HREF},
    "link a list": {"self": [{"href": HREF}]},
    "relation name too long": {"r" * 129: {"href": HREF}},
    "second link bad": {"self": {"href": HREF}, "next": {"href": 1}},
    "links not an object": [{"href": HREF}],
    "links null": None,
}


@pytest.mark.parametrize("links", CASES.values(), ids=CASES.keys())
def test_links_load_as_the_nested_link_schema_loads_them(links):
    fast, reference = load(Fast(), links), by_relation(load(Reference(), links))
    assert fast == reference
    if fast[0] == "ok":  # and in the schema's field order, as marshmallow gives it
        assert [list(link) for link in fast[1]["_links"].values()] == [
            list(link) for link in reference[1]["_links"].values()]


def test_plainly_valid_links_load_without_a_nested_schema_load(monkeypatch):
    loads: list[object] = []
    nested_load = LinkSchema.load

    def counting(self, *args: Any, **kwargs: Any) -> Any:
        loads.append(args)
        return nested_load(self, *args, **kwargs)

    monkeypatch.setattr(LinkSchema, "load", counting)
    assert load(Fast(), CASES["several links"])[0] == "ok"
    assert loads == []
    assert load(Fast(), CASES["title too long"])[0] == "error"  # marshmallow's own error
    assert loads
