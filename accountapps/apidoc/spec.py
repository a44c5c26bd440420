"""The OpenAPI document: the flask-smorest ``Api`` of the service and its finishing.

:func:`document` is the one source of the OpenAPI document: ``GET /apiDoc``,
``flask apidoc write`` (which writes ``openapi/openapi.yaml``) and the tests
all call it, so the served document, the committed YAML and the code agree.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from typing import Any, Literal

import yaml
from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app
from flask_smorest import Api
from marshmallow import Schema

from accountapps.apidoc.plugin import BasePathFlaskPlugin, ConventionsPlugin
from accountapps.apidoc.schemes import security_schemes
from accountapps.domain import events
from accountapps.representations.common import Body, ErrorResponseSchema
from accountapps.representations.events import EventDataSchema
from accountapps.web import hal

API_TITLE = "Account Applications"
API_VERSION = "0.18.3"

DESCRIPTION = (
    "This API manages applications to create new accounts, and enrollments of new users in "
    "digital banking. Responses are `application/hal+json`; every resource has `_id`, "
    "`_profile` (the URI of its JSON Schema, served by this service) and `_links`. "
    "Start at the API root and follow its links.\n\n"
    "**Text.** No string in a request may hold U+0000 (NUL) or a lone surrogate: no text "
    "can store them, and such a request is `400` (`invalidCharacter`).\n\n"
    "**Safe retries.** Every POST accepts an `Idempotency-Key` header (1 to 255 printable "
    "ASCII characters; bare, or quoted as RFC 8941 writes a string): a key the client makes "
    "up for one request and sends again with each retry of it. The first request with a key "
    "executes, and its answer (status, `Location`, `ETag`, `Content-Type` and body) is "
    "stored in the same transaction as its effect. A repeat from the same client application "
    "and user, for the same method, path, query and body, gets that answer byte for byte, "
    "with `Idempotent-Replayed: true`, and executes nothing, even if the resource has changed "
    "since. The same key with another request is `422`, naming what differs; a repeat while "
    "the first is still executing is `409` with `Retry-After` (a deployment of several "
    "servers may instead hold a repeat that reaches another server until the first "
    "answer exists, and send that). Only outcomes are stored: a "
    "success, or a `409` conflict with the resource's state. A request refused before it "
    "takes effect (any other `4xx`) or failing (`5xx`) stores nothing, so it can be corrected "
    "and sent again with the same key. Keys are kept at least 24 hours (the service's "
    "`ACCOUNTAPPS_IDEMPOTENCY_TTL_HOURS`). A service with "
    "`ACCOUNTAPPS_REQUIRE_IDEMPOTENCY_KEY` set refuses a POST without a key (`400`)."
)


def schema_name(schema: type[Schema] | Schema) -> str:
    """Component name of a schema: ``ApplicationSummarySchema`` -> ``applicationSummary``.

    A partial schema (the body of a PATCH) gets a ``Patch`` suffix, so that two
    different schemas never resolve to the same name.
    """
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    name = name[:1].lower() + name[1:]
    if not isinstance(schema, type) and schema.partial:
        name += "Patch"
    return name


class AccountAppsApi(Api):
    """flask-smorest's Api with the service's error body and media type."""

    ERROR_SCHEMA = ErrorResponseSchema
    DEFAULT_RESPONSE_CONTENT_TYPE = hal.MEDIA_TYPE
    DEFAULT_REQUEST_BODY_CONTENT_TYPE = hal.MEDIA_TYPE
    #: Every status is listed per operation: no catch-all ``default`` response.
    DEFAULT_ERROR_RESPONSE_NAME = None

    def __init__(self, app: Flask, **kwargs: Any) -> None:
        self._undocumented: list[tuple[Any, str, list | None]] = []
        self._documenting = threading.Lock()
        super().__init__(app, **kwargs)

    def register_blueprint(self, blp, *, parameters=None, **options) -> None:
        """Register ``blp`` with the app now, and document its views when the document is
        first asked for (:meth:`documented_spec`).

        Documenting the views (apispec converting every schema) is most of the cost of
        creating an app, and only the OpenAPI document needs it: every gunicorn worker
        and every test creates an app, few ever ask for the document.
        """
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

    def documented_spec(self) -> APISpec:
        """The apispec document with every registered blueprint's views in it."""
        with self._documenting:  # two threads of a worker may ask first at once
            while self._undocumented:
                blp, name, parameters = self._undocumented.pop(0)
                blp.register_views_in_doc(self, self._app, self.spec, name=name,
                                          parameters=parameters)
                self.spec.tag({"name": name, "description": blp.description})
        return self.spec


def create_api(app: Flask) -> Api:
    """The Api that registers the blueprints and builds the OpenAPI document."""
    app.config.update(
        API_TITLE=API_TITLE,
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.1.0",
        API_SPEC_OPTIONS={
            "info": {"description": DESCRIPTION,
                     "license": {"name": "Proprietary", "identifier": "LicenseRef-Proprietary"}},
            "servers": [{"url": hal.BASE_PATH}],
            "components": {"securitySchemes": security_schemes(app.config)},
        },
    )
    api = AccountAppsApi(app, spec_kwargs={
        "flask_plugin": BasePathFlaskPlugin(),
        "marshmallow_plugin": MarshmallowPlugin(schema_name_resolver=schema_name),
        "extra_plugins": [ConventionsPlugin(app)],
    })
    # What webhooks carry: referenced by the document's ``webhooks`` (add_webhooks).
    api.spec.components.schema("eventData", schema=EventDataSchema)
    return api


def _operations(doc: dict) -> list[tuple[list[dict], dict]]:
    """Each operation with all its parameters (its own and its path's)."""
    return [(item.get("parameters", []) + operation.get("parameters", []), operation)
            for item in doc["paths"].values()
            for operation in item.values() if isinstance(operation, dict)]


def add_links(doc: dict) -> None:
    """OpenAPI links from each ``create{Kind}`` to the operations on what it created.

    A target is any operation of the kind that takes the new resource's id: in
    its path (``/applications/{applicationId}``) or as the action query
    parameter named after the kind (``?application=``). The ETag of the answer
    feeds ``If-Match``. Clients and schemathesis follow these links.
    """
    operations = _operations(doc)
    for _parameters, create in operations:
        match = re.fullmatch(r"create([A-Z]\w*)", create.get("operationId", ""))
        if not match:
            continue
        kind = match.group(1)[:1].lower() + match.group(1)[1:]
        links: dict[str, Any] = {}
        for target_parameters, target in operations:
            parameters: dict[str, str] = {}
            for parameter in target_parameters:
                name, where = parameter["name"], parameter["in"]
                if (where, name) in (("path", f"{kind}Id"), ("query", kind)):
                    parameters[f"{where}.{name}"] = "$response.body#/_id"
            if not parameters:
                continue
            for parameter in target_parameters:
                if parameter["name"] == "If-Match":
                    parameters["header.If-Match"] = "$response.header.ETag"
            operation_id = target["operationId"]
            links[operation_id[:1].upper() + operation_id[1:]] = {
                "operationId": operation_id, "parameters": parameters}
        if links:
            create["responses"]["201"]["links"] = links


WEBHOOK_HEADERS = (
    ("webhook-id", "The event's `_id`: the same on every attempt. Deduplicate by it."),
    ("webhook-timestamp", "When this attempt was sent (Unix seconds)."),
    ("webhook-signature", "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-"
                          "timestamp}.{body}` with the subscription's secret (Standard "
                          "Webhooks): verify it with a standardwebhooks library."),
)


def add_webhooks(doc: dict) -> None:
    """OpenAPI 3.1 ``webhooks``: the delivery of each event type to a subscribed receiver."""
    webhooks: dict[str, Any] = {}
    for event_type in events.ALL_TYPES:
        resource, change = event_type.split(".", 1)
        summary = events.DESCRIPTIONS[change].format(r=resource)
        operation_id = camel_type(event_type)
        webhooks[event_type] = {"post": {
            "operationId": f"{operation_id}Webhook",
            # The receiver authenticates a delivery by its signature, not by credentials.
            "security": [],
            "summary": summary,
            "description": (
                f"{summary} Sent to every subscription whose `events` include "
                f"`{event_type}`, `{resource}.*` or `*`, signed by the Standard Webhooks "
                "specification; a receiver acknowledges with any 2xx. Anything else, or no "
                "answer within the timeout, is retried with exponential backoff for the "
                "retry period, then dead-lettered. At least once: deduplicate by "
                "`webhook-id`. One resource's events arrive in order."),
            "parameters": [{"name": name, "in": "header", "required": True,
                            "description": text, "schema": {"type": "string"}}
                           for name, text in WEBHOOK_HEADERS],
            "requestBody": {"required": True, "content": {"application/json": {"schema": {
                "type": "object", "required": ["type", "timestamp", "data"],
                "properties": {
                    "type": {"type": "string", "const": event_type},
                    "timestamp": {"type": "string", "format": "date-time",
                                  "description": "When the change happened."},
                    "data": {"$ref": "#/components/schemas/eventData"},
                }}}}},
            "responses": {"2XX": {"description": "Received."},
                          "default": {"description": "Not received: retried later."}},
        }}
    doc["webhooks"] = webhooks


def camel_type(event_type: str) -> str:
    """``application.documentReviewed`` -> ``applicationDocumentReviewed``."""
    resource, change = event_type.split(".", 1)
    return resource + change[:1].upper() + change[1:]


def document(app: Flask | None = None) -> dict[str, Any]:
    """The complete OpenAPI document of the service."""
    app = app or current_app
    api: AccountAppsApi = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    doc = copy.deepcopy(api.documented_spec().to_dict())
    add_links(doc)
    accept_what_is_ignored(doc)
    state_member_rules(doc)
    partial_all_the_way_down(doc)
    add_webhooks(doc)
    prune_components(doc)
    return markdown(doc)


def finished(app: Flask | None = None) -> dict[str, Any]:
    """The document, built once per app and shared: read it, never change it.

    The document changes only with the code and the settings, neither of which
    changes in an app's life, and building it costs more than any other request:
    ``GET /apiDoc`` must not be a cheap way to keep a worker busy.
    """
    app = app or current_app
    cache = _cache(app)
    doc = cache.get("document")
    if doc is None:  # two threads may both build it: equal documents either way
        doc = cache["document"] = document(app)
    return doc


def rendered(form: Literal["json", "yaml"], app: Flask | None = None) -> bytes:
    """The document as JSON or YAML bytes, rendered once per app (see :func:`finished`)."""
    app = app or current_app
    cache = _cache(app)
    body = cache.get(form)
    if body is None:  # two threads may both render it: the same bytes either way
        doc = finished(app)
        body = cache[form] = to_yaml(doc).encode() if form == "yaml" else hal.dumps(doc)
    return body


def _cache(app: Flask) -> dict[str, Any]:
    return app.extensions.setdefault("accountapps.apidoc", {})


def _body_schemas() -> list[type[Body]]:
    found, pending = [], [Body]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def accept_what_is_ignored(doc: dict) -> None:
    """Request schemas list the members a body may carry that the service ignores.

    A client sends back what it fetched: the server-owned members, ``_links``
    where they are not data, ``_embedded``, ``_profile``. The service accepts and
    drops them (:class:`Body`); documented as ``readOnly`` members, a client that
    validates its requests with this document accepts them too.
    """
    schemas = doc["components"]["schemas"]
    for cls in _body_schemas():
        for name in (schema_name(cls), schema_name(cls) + "Patch"):
            component = schemas.get(name)
            if component is None:
                continue
            properties = component.setdefault("properties", {})
            for member in sorted(cls().ignored_on_load):
                properties.setdefault(member, {
                    "readOnly": True,
                    "description": "Accepted and ignored in a request: the service owns it."})


def state_member_rules(doc: dict) -> None:
    """Each request schema states the rules between its members (``Body.member_rules``):
    a reason when the result is ``failed``, an applicant or a non-empty list of them…
    Only the class that declares them gets them, and never its partial ``…Patch`` body."""
    schemas = doc["components"]["schemas"]
    for cls in _body_schemas():
        rules = vars(cls).get("member_rules")
        component = schemas.get(schema_name(cls))
        if rules and component is not None:
            component.update(_naming_what_they_require(copy.deepcopy(rules)))


def _naming_what_they_require(node: Any) -> Any:
    """Each subschema that requires a member names it in its ``properties`` (``{}``: any
    value, the component's own definition applies), as linters expect."""
    if isinstance(node, dict):
        for value in node.values():
            _naming_what_they_require(value)
        if "required" in node:
            properties = node.setdefault("properties", {})
            for name in node["required"]:
                properties.setdefault(name, {})
    return node


def partial_all_the_way_down(doc: dict) -> None:
    """A PATCH body's nested objects are partial too: a ``…Patch`` schema refers to
    ``…Patch`` copies of its nested schemas, which require nothing."""
    schemas = doc["components"]["schemas"]

    def partial(name: str) -> str:
        patch = name if name.endswith("Patch") else f"{name}Patch"
        if patch not in schemas:
            schemas[patch] = copy.deepcopy(schemas[name])
            schemas[patch].pop("required", None)
            schemas[patch] = rewrite(schemas[patch])
        return patch

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/components/schemas/"):
                return {**node, "$ref": "#/components/schemas/" + partial(ref.rsplit("/", 1)[1])}
            return {key: rewrite(value) for key, value in node.items()}
        if isinstance(node, list):
            return [rewrite(item) for item in node]
        return node

    for name in [name for name in schemas if name.endswith("Patch")]:
        schemas[name].pop("required", None)
        schemas[name] = rewrite(schemas[name])


def markdown(node: Any) -> Any:
    """Descriptions and summaries in Markdown: the code's docstrings mark code in
    reStructuredText (double backquotes), which Markdown would show literally."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("description", "summary") and isinstance(value, str):
                node[key] = value.replace("``", "`")
            else:
                markdown(value)
    elif isinstance(node, list):
        for item in node:
            markdown(item)
    return node


def prune_components(doc: dict) -> None:
    """Drop component schemas that nothing references (flask-smorest registers a few)."""
    schemas = doc["components"]["schemas"]
    text = json.dumps([doc["paths"], doc.get("webhooks", {})])
    used: set[str] = set()
    pending = set(re.findall(r"#/components/schemas/([^\"]+)", text))
    while pending:
        name = pending.pop()
        used.add(name)
        pending |= set(re.findall(r"#/components/schemas/([^\"]+)",
                                  json.dumps(schemas[name]))) - used
    for name in list(schemas):
        if name not in used:
            del schemas[name]


class _PlainDumper(yaml.SafeDumper):
    """YAML without anchors and aliases (some OpenAPI tools do not resolve them)."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(doc: dict[str, Any]) -> str:
    """The YAML text of the document, stable across runs (keys in insertion order)."""
    return yaml.dump(doc, Dumper=_PlainDumper, sort_keys=False, allow_unicode=True, width=100)
