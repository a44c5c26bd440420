"""The OpenAPI document: the flask-smorest ``Api`` of the service and its finishing.

:func:`document` is the one source of the OpenAPI document: ``GET /apiDoc``,
``flask apidoc write`` (which writes ``openapi/openapi.yaml``) and the tests
all call it, so the served document, the committed YAML and the code agree.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import yaml
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, current_app
from flask_smorest import Api
from marshmallow import Schema

from accountapps.apidoc.plugin import BasePathFlaskPlugin, ConventionsPlugin
from accountapps.domain import events
from accountapps.representations.common import ErrorResponseSchema
from accountapps.representations.events import EventDataSchema
from accountapps.web import hal

API_TITLE = "Account Applications"
API_VERSION = "0.18.3"

#: The reference's OAuth2 scopes.
SCOPES = {
    "banking/read": "Read access to accounts and account-related resources such as transfers "
                    "and transactions.",
    "banking/write": "Write (update) access to accounts and account-related resources such as "
                     "transfers and transactions.",
    "banking/delete": "Delete access to editable accounts and account-related resources such "
                      "as transfers.",
    "banking/readBalance": "Read access to account balances. This must be granted in addition "
                           "to the banking/read scope in order to view balances, but is "
                           "included in the banking/full scope.",
    "banking/full": "Full access to accounts and account-related resources such as transfers "
                    "and transactions.",
    "profiles/read": "Read access to user and contact related resources.",
    "profiles/write": "Write (update) access to user and contact related resources.",
    "profiles/delete": "Delete access to user and contact related resources.",
    "profiles/readPii": "Read access to personally identifiable information such as tax ID "
                        "numbers, phone numbers, email and postal addresses. This must be "
                        "granted in addition to the profiles/read scope in order to read such "
                        "data, but is included in the profiles/full scope.",
    "profiles/full": "Full access to user and contact related resources.",
    "data/read": "Read access to non-account, non-profile data.",
    "data/write": "Write (update) access to non-account, non-profile data.",
    "data/delete": "Delete access to non-account, non-profile data.",
    "data/full": "Full access to non-account, non-profile data.",
    "admin/read": "Read access to system configuration.",
    "admin/write": "Write (update) access to system configuration.",
    "admin/delete": "Delete access to system configuration.",
    "admin/full": "Full access to system configuration.",
}

SECURITY_SCHEMES = {
    "apiKey": {
        "type": "apiKey", "in": "header", "name": "API-Key",
        "description": "API Key based authentication. Each client application must pass its "
                       "private, unique API key via the `API-Key: {api-key}` request header.",
    },
    "accessToken": {
        "type": "oauth2",
        "description": "OAuth2 access token of the user, sent as "
                       "`Authorization: Bearer {access-token}`.",
        "flows": {"authorizationCode": {
            "authorizationUrl": "/auth/oauth2/authorize",
            "tokenUrl": "/auth/oauth2/token",
            "scopes": SCOPES,
        }},
    },
}

DESCRIPTION = (
    "This API manages applications to create new accounts, and enrollments of new users in "
    "digital banking. Responses are `application/hal+json`; every resource has `_id`, "
    "`_profile` (the URI of its JSON Schema, served by this service) and `_links`. "
    "Start at the API root and follow its links."
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


def create_api(app: Flask) -> Api:
    """The Api that registers the blueprints and builds the OpenAPI document."""
    app.config.update(
        API_TITLE=API_TITLE,
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.1.0",
        API_SPEC_OPTIONS={
            "info": {"description": DESCRIPTION},
            "servers": [{"url": hal.BASE_PATH}],
            "components": {"securitySchemes": SECURITY_SCHEMES},
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
    api = app.extensions["flask-smorest"]["apis"][""]["ext_obj"]
    doc = copy.deepcopy(api.spec.to_dict())
    add_links(doc)
    add_webhooks(doc)
    prune_components(doc)
    return doc


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
