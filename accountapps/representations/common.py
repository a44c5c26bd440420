"""Schemas shared by every representation: links, money, errors, collections."""

from __future__ import annotations

from functools import cached_property
from typing import Any, ClassVar

from marshmallow import (
    INCLUDE,
    RAISE,
    Schema,
    ValidationError,
    fields,
    pre_load,
    validate,
    validates_schema,
)

from accountapps.auth.principal import Principal
from accountapps.auth.security import may_call
from accountapps.domain import lifecycle
from accountapps.domain.lifecycle import Kind
from accountapps.representations import validators
from accountapps.web import hal
from accountapps.web.errors import MAX_NESTED_ERRORS

HREF_MAX = 2048


class Timestamp(fields.String):
    """An RFC 3339 date-time such as ``2018-12-13T11:01:41.375Z``: ``format: date-time``
    in the schema, so that generated clients type it as a time, not a string."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"format": "date-time", **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)


class Body(Schema):
    """Base of every request body schema.

    Unknown fields are an error (a typo must not be a silent no-op), but the
    server-owned fields of the representation (``read_only``) and HAL's
    ``_embedded``/``_profile`` are accepted and ignored, so that a client can
    send back what it fetched. See docs/api.md, "Read-only fields in PUT and PATCH". Fields declared
    ``dump_only`` (what the server sets, documented ``readOnly``) are read-only
    too, so that a schema can describe the representation it accepts back.
    """

    read_only: frozenset[str] = frozenset()

    #: The rules between members that the class's ``@validates_schema`` checks, as JSON
    #: Schema keywords (``if``/``then``): added to the OpenAPI component of the class that
    #: declares them, not of its subclasses, nor of a partial (``…Patch``) body, which
    #: such a rule does not bind (:func:`accountapps.apidoc.spec.state_member_rules`).
    member_rules: ClassVar[dict[str, Any]] = {}

    class Meta:
        unknown = RAISE
        ordered = True

    @cached_property
    def ignored_on_load(self) -> frozenset[str]:
        """The keys accepted and dropped before loading: read-only and dump-only ones."""
        return self.read_only | {"_embedded", "_profile"} | {
            field.data_key or name for name, field in self.fields.items() if field.dump_only}

    @pre_load
    def _drop_read_only(self, data: Any, **_kwargs: Any) -> Any:
        if isinstance(data, dict):
            ignored = self.ignored_on_load
            if ignored.isdisjoint(data):  # the usual case: nothing to drop, no copy
                return data
            return {key: value for key, value in data.items() if key not in ignored}
        return data


class StrictBoolean(fields.Boolean):
    """A JSON ``true`` or ``false``, nothing else.

    marshmallow's ``Boolean`` also takes ``0``, ``1``, ``"yes"``, ``"on"`` and
    the like, which the published schema (``type: boolean``) does not allow: a
    client sending them has a bug that should surface as ``400``, not be
    guessed at and stored.
    """

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class LinkSchema(Body):
    href = fields.String(required=True, validate=validate.Length(min=1, max=HREF_MAX), metadata={
        "description": "In a request: a relative reference (a path), or an https URI on a "
                       "host of the institution's platform; anything else is 400 (a product "
                       "reference excepted: it is read for the product's id only)."})
    title = fields.String(validate=validate.Length(max=255))
    type = fields.String(validate=validate.Length(max=255))
    name = fields.String(validate=validate.Length(max=255))
    templated = StrictBoolean()
    profile = fields.String(validate=validate.Length(max=HREF_MAX))


#: LinkSchema's string fields and their longest length; its field order.
_LINK_STRINGS = {"href": HREF_MAX, "title": 255, "type": 255, "name": 255, "profile": HREF_MAX}
_LINK_ORDER = ("href", "title", "type", "name", "templated", "profile")


def _plain_link(link: Any) -> dict[str, Any] | None:
    """``link`` as LinkSchema loads it, or ``None`` unless it is plainly valid."""
    if not isinstance(link, dict) or not isinstance(link.get("href"), str) or not link["href"]:
        return None
    for key, value in link.items():
        limit = _LINK_STRINGS.get(key)
        if limit is not None:
            if not isinstance(value, str) or len(value) > limit:
                return None
        elif key != "templated" or not isinstance(value, bool):
            return None  # unknown, ignored (_embedded), or templated not a boolean
    return {key: link[key] for key in _LINK_ORDER if key in link}


#: Most relations one ``_links`` object may hold (a HAL resource has a handful),
#: refused before any link is loaded.
MAX_LINKS = 32


class LinksField(fields.Dict):
    """A HAL ``_links`` object: relation names to :class:`LinkSchema` objects.

    Every link a client sends must lead where links may
    (:func:`validators.link_problem`), except those of the relations in
    ``any_host``: references the service reads for an id only and never shows
    as sent (a product reference; contract: "any scheme and host").

    Loading nests a schema load per link, a large part of a create body's
    validation. Links that are plainly valid (known keys only, strings within
    their limits, ``templated`` a real boolean) are taken as they are, in
    LinkSchema's field order; anything else goes through marshmallow, so every
    error is marshmallow's own, named after the link's relation.
    """

    def __init__(self, *, any_host: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.any_host = frozenset(any_host)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, dict) and len(value) > MAX_LINKS:
            raise ValidationError(f"Has more than {MAX_LINKS} links.")
        loaded = self._load(value, attr, data, **kwargs)
        problems = {}
        for rel, link in loaded.items():
            if rel not in self.any_host:
                problem = validators.link_problem(link["href"])
                if problem:
                    problems[rel] = {"href": [problem]}
        if problems:
            raise ValidationError(problems)
        return loaded

    def _load(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, dict):
            plain = {}
            for rel, link in value.items():
                loaded = _plain_link(link)
                if loaded is None or not isinstance(rel, str) or len(rel) > 128:
                    break
                plain[rel] = loaded
            else:
                return plain
        try:
            return super()._deserialize(value, attr, data, **kwargs)
        except ValidationError as error:
            if not isinstance(error.messages, dict):
                raise
            # marshmallow files a link's own errors under "value": name them
            # after the relation (``_links.self.href``, not ``_links.self.value.href``).
            raise ValidationError({
                rel: problems["value"] if isinstance(problems, dict) and list(problems) == [
                    "value"] else problems
                for rel, problems in error.messages.items()}) from error


def links_field(*, any_host: tuple[str, ...] = (), **kwargs: Any) -> fields.Dict:
    """A HAL ``_links`` object (``any_host``: relations exempt from the link rule,
    see :class:`LinksField`)."""
    return LinksField(
        keys=fields.String(validate=validate.Length(max=128)),
        values=fields.Nested(LinkSchema),
        data_key="_links",
        any_host=any_host,
        metadata={"maxProperties": MAX_LINKS, **kwargs.pop("metadata", {})},
        **kwargs,
    )


def _embedded_link_problems(value: Any, path: str) -> dict[str, list[str]]:
    """``{where: [problem]}`` for every ``_links`` href inside a free-form object
    (HAL's ``_embedded``) that breaks the link rule."""
    problems: dict[str, list[str]] = {}
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key == "_links" and isinstance(item, dict):
                for rel, links in item.items():
                    for index, link in enumerate(links if isinstance(links, list) else [links]):
                        href = link.get("href") if isinstance(link, dict) else None
                        problem = validators.link_problem(href) if isinstance(href, str) else None
                        if problem:
                            at = f"{where}.{rel}" + (f".{index}" if isinstance(links, list) else "")
                            problems[f"{at}.href"] = [problem]
            else:
                problems.update(_embedded_link_problems(item, where))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problems.update(_embedded_link_problems(item, f"{path}.{index}"))
    return problems


class EmbeddedField(fields.Dict):
    """HAL's ``_embedded``, kept as sent: any object, but every link inside it obeys
    the link rule (:func:`validators.link_problem`), as ``_links`` do."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        loaded = super()._deserialize(value, attr, data, **kwargs)
        problems = _embedded_link_problems(loaded, "")
        if problems:
            raise ValidationError(problems)
        return loaded


class BoundedList(fields.List):
    """A JSON array with a documented maximum length (``maxItems``), refused whole
    before any of its items is validated: an overlong array of bad items costs one
    error, not one per item."""

    def __init__(self, inner: fields.Field | type, max_items: int, **kwargs: Any) -> None:
        super().__init__(inner, validate=validate.Length(max=max_items), **kwargs)
        self.max_items = max_items

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, list) and len(value) > self.max_items:
            raise ValidationError(f"Longer than maximum length {self.max_items}.")
        return super()._deserialize(value, attr, data, **kwargs)


class MoneySchema(Body):
    """An amount of money: a decimal string and an ISO 4217 currency."""

    value = fields.String(required=True, validate=validators.decimal_string)
    currency = fields.String(required=True, validate=validators.currency)

    @validates_schema
    def _precision(self, data: dict, **_kwargs: Any) -> None:
        if "value" in data and "currency" in data:
            problem = validators.amount_for_currency(data["value"], data["currency"])
            if problem:
                raise ValidationError(problem, "value")


class ErrorDetailSchema(Schema):
    """One error: the ``_error`` of an errorResponse, or one of its nested errors."""

    class Meta:
        # Errors are extensible: a nested error may carry what it is about
        # (a blocker's ``code``, ``task``, ``field``, ...).
        unknown = INCLUDE

    _id = fields.String(data_key="_id")
    message = fields.String(required=True)
    statusCode = fields.Integer()
    type = fields.String()
    occurredAt = fields.DateTime()
    attributes = fields.Dict()
    remediation = fields.String()
    _links = links_field()


class ErrorsEmbeddedSchema(Schema):
    """``_embedded`` of an error: the nested errors, e.g. one per invalid field."""

    errors = fields.List(fields.Nested(ErrorDetailSchema),
                         validate=validate.Length(max=MAX_NESTED_ERRORS))


class ErrorSchema(ErrorDetailSchema):
    """The ``_error`` object of an errorResponse."""

    _embedded = fields.Nested(ErrorsEmbeddedSchema, data_key="_embedded")


class ErrorResponseSchema(Schema):
    """errorResponse: the body of every error."""

    _profile = fields.String(data_key="_profile", required=True)
    _error = fields.Nested(ErrorSchema, data_key="_error", required=True)


class SummarySchema(Schema):
    """An item of a collection page."""

    class Meta:
        unknown = RAISE

    _id = fields.String(data_key="_id", required=True)
    _profile = fields.String(data_key="_profile", required=True)
    _links = links_field(required=True)
    state = fields.String()
    name = fields.String(allow_none=True)


def embedded_items(item: type[Schema], name: str) -> fields.Nested:
    """``_embedded`` of a collection page: ``items``, an array of ``item`` representations.

    ``name`` names the generated schema (``ApplicationsEmbedded`` -> component
    ``applicationsEmbedded``).
    """
    embedded = Schema.from_dict(
        {"items": fields.List(fields.Nested(item), required=True)}, name=f"{name}Schema")
    return fields.Nested(embedded, data_key="_embedded", required=True)


class CollectionSchema(Schema):
    """A page of a collection (subclasses add ``_embedded`` with :func:`embedded_items`)."""

    _profile = fields.String(data_key="_profile", required=True)
    _links = links_field(required=True)
    start = fields.Integer(required=True)
    limit = fields.Integer(required=True)
    count = fields.Integer(required=True)
    name = fields.String(required=True)


def action_links(kind: Kind, row: Any, principal: Principal) -> dict[str, dict]:
    """``apiture:approve`` & co. for exactly the actions ``principal`` may perform now.

    An action is offered only if its route's declared scope admits the token
    too, so following a link never ends in ``403 insufficientScope``.
    """
    return {
        f"apiture:{action.rel}": hal.link(hal.api_url(action.collection, {kind.param: row.id}))
        for action in lifecycle.available_actions(kind, row, principal)
        if may_call(principal, "POST", hal.BASE_PATH + action.collection)
    }


def guarded_href(pattern: str, resource_id: str, principal: Principal, allowed: bool) -> str | None:
    """The href of a resource's sub-resource, or ``None`` unless ``principal`` may follow it.

    ``pattern`` is its path with ``{id}`` (``/applications/{id}/auditRecords``);
    ``allowed`` is the policy's word on this reader. The route's declared scope
    must admit the token too, or the link would lead to a ``403``.
    """
    if not (allowed and may_call(principal, "GET", hal.BASE_PATH + pattern)):
        return None
    return hal.api_url(pattern.format(id=resource_id))
