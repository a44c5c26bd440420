"""The apispec plugins that make every operation follow the API's conventions.

Views declare only what is specific to them (schemas, the statuses they can
answer, their scope through :func:`accountapps.auth.security.requires`). Everything
that follows from a convention is added here, in one place, for every view of
every blueprint: operationIds, security requirements, credentials and media
type errors, ``ETag``/``Location`` headers, ``If-Match``/``If-None-Match``,
``Idempotency-Key`` on every POST, errorResponse bodies, ``application/hal+json``,
and the links that let a client (or schemathesis) go from a created resource to
its operations.
"""

from __future__ import annotations

import http
import re
from collections.abc import Mapping
from typing import Any

from apispec import BasePlugin
from flask import Flask
from flask_smorest.spec.plugins import FlaskPlugin

from accountapps.apidoc.schemes import security_schemes
from accountapps.auth.security import PUBLIC, UNAUTHENTICATED
from accountapps.web import hal

JSON = "application/json"
ERROR_REF = {"$ref": "#/components/schemas/errorResponse"}

#: The media type request bodies are documented with. The service also accepts
#: application/hal+json and application/merge-patch+json (web/bodies.py); one
#: documented type keeps client generators to one body model per operation.
REQUEST_MEDIA_TYPES = (JSON,)

ETAG_HEADER = {
    "description": "The entity tag of the resource; send it in If-Match to update it.",
    "required": True,
    "schema": {"type": "string"},
}
LOCATION_HEADER = {
    "description": "The absolute URI of the new resource.",
    "required": True,
    "schema": {"type": "string", "format": "uri"},
}
IF_MATCH = {
    "name": "If-Match", "in": "header",
    "description": "The ETag of the resource as the client last saw it (``*`` for any).",
    "schema": {"type": "string"},
}
IF_NONE_MATCH = {
    "name": "If-None-Match", "in": "header",
    "description": "If it matches the current ETag, the answer is 304 with no body.",
    "schema": {"type": "string"},
}


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "description": (
        "Makes retries of this POST safe: a key made up for this request (a UUID, say), "
        "1 to 255 printable ASCII characters, sent again with each retry. A repeat gets the "
        "first answer (`Idempotent-Replayed: true`) and nothing executes twice; the same key "
        "with another request is `422`; a repeat while the first executes is `409` with "
        "`Retry-After`. See \"Safe retries\" in the API description."),
    # Bare (no surrounding spaces, which HTTP drops), or an RFC 8941 sf-string whose
    # content is the key (web/idempotency.py, parse_key).
    "schema": {"type": "string",
               "pattern": r'^([!#-~]([ -~]{0,253}[!-~])?|"([ !#-\[\]-~]|\\["\\]){1,255}")$'},
}
REPLAYED_HEADER = {
    "description": "`true`: this is the stored answer to an earlier request with the same "
                   "Idempotency-Key; nothing was executed now.",
    "schema": {"type": "string", "enum": ["true"]},
}
RETRY_AFTER_HEADER = {
    "description": "Seconds to wait before retrying (a request with the same Idempotency-Key "
                   "is still executing).",
    "schema": {"type": "integer", "minimum": 0},
}


def camel(name: str) -> str:
    """``get_running_applications`` -> ``getRunningApplications`` (camelCase is kept)."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def error_response(status: int, description: str | None = None) -> dict[str, Any]:
    """A response whose body is an errorResponse."""
    return {
        "description": description or http.HTTPStatus(status).phrase,
        "content": {hal.MEDIA_TYPE: {"schema": dict(ERROR_REF)}},
    }


class BasePathFlaskPlugin(FlaskPlugin):
    """Paths relative to the server URL (the base path) with camelCase path parameters.

    The routes are ``/accountApplications/applications/<application_id>``; the
    reference documents ``/applications/{applicationId}`` under the server
    ``/accountApplications``.
    """

    def path_helper(self, rule: Any, operations: Any, parameters: list, **kwargs: Any) -> str:
        path = super().path_helper(rule=rule, operations=operations, parameters=parameters,
                                   **kwargs)
        for parameter in parameters:
            if parameter.get("in") == "path":
                parameter["name"] = camel(parameter["name"])
        path = re.sub(r"{([^}]+)}", lambda m: "{" + camel(m.group(1)) + "}", path)
        return path.removeprefix(hal.BASE_PATH) or "/"


class ConventionsPlugin(BasePlugin):
    """Completes each operation from the view's declarations (see module docstring)."""

    def __init__(self, app: Flask) -> None:
        super().__init__()
        self.app = app

    def operation_helper(self, path: str | None = None, operations: dict | None = None,
                         **kwargs: Any) -> None:
        rule = kwargs.get("rule")
        if rule is None or not operations:
            return
        view = self.app.view_functions[rule.endpoint]
        short_name = rule.endpoint.rsplit(".", 1)[-1]
        has_path_params = "{" in (path or "")
        for method, operation in operations.items():
            operation.setdefault("operationId", camel(short_name))
            self._security(operation, getattr(view, "required_scope", None),
                           security_schemes(self.app.config))
            self._request_body(operation)
            # Any request may be malformed before a view sees it (http.py): a Host
            # that names no host, a query parameter given twice or holding NUL.
            operation["responses"].setdefault(400, "BAD_REQUEST")
            if method in ("post", "put", "patch"):
                # Size and media type are checked before the view, for any body
                # (an action may carry one with a reason).
                operation["responses"].setdefault(413, "REQUEST_ENTITY_TOO_LARGE")
                operation["responses"].setdefault(415, "UNSUPPORTED_MEDIA_TYPE")
                # A value the database cannot hold is a 422 valueOutOfRange (errors.py).
                operation["responses"].setdefault(422, "UNPROCESSABLE_ENTITY")
            if method == "post":
                self._idempotency(operation)
            if not getattr(view, "without_database", False):
                # The database is down, or the connection was lost (db.py, errors.py).
                operation["responses"].setdefault(503, "SERVICE_UNAVAILABLE")
            self._responses(method, operation, has_path_params)

    @staticmethod
    def _security(operation: dict, scope: str | None, schemes: Mapping[str, Any]) -> None:
        responses = operation.setdefault("responses", {})
        credentials = (
            "Needs no credentials." if scope == UNAUTHENTICATED
            else "Needs the client application's API key." if scope == PUBLIC
            else f"Needs the client application's API key and the user's access token "
                 f"with the `{scope}` scope.")
        description = operation.get("description") or operation.get("summary", "")
        operation["description"] = f"{description}\n\n{credentials}".strip()
        if scope == UNAUTHENTICATED:
            operation["security"] = []
        elif scope == PUBLIC:
            operation["security"] = [{"apiKey": []}]
            responses.setdefault(401, "UNAUTHORIZED")
        else:
            # OpenAPI 3.1 lets a non-OAuth2 scheme name the roles it needs: the scope.
            needed = [scope] if scope else []
            operation["security"] = [{"apiKey": [], "bearerAuth": needed}]
            if "accessToken" in schemes:
                operation["security"].append({"apiKey": [], "accessToken": needed})
            responses.setdefault(401, "UNAUTHORIZED")
            responses.setdefault(403, "FORBIDDEN")
        responses.setdefault(429, "TOO_MANY_REQUESTS")

    @staticmethod
    def _idempotency(operation: dict) -> None:
        """Every POST takes an ``Idempotency-Key`` (web/idempotency.py): a repeat
        still executing is 409, the key of another request 422."""
        operation.setdefault("parameters", []).append(dict(IDEMPOTENCY_KEY))
        operation["responses"].setdefault(409, "CONFLICT")
        operation["responses"].setdefault(422, "UNPROCESSABLE_ENTITY")

    @staticmethod
    def _request_body(operation: dict) -> None:
        body = operation.get("requestBody")
        if not body:
            return
        content = body["content"]
        media_type = next(iter(content.values()))  # schema, example
        body["content"] = {media: dict(media_type) for media in REQUEST_MEDIA_TYPES}
        responses = operation.setdefault("responses", {})
        responses.setdefault(400, "BAD_REQUEST")
        responses.setdefault(413, "REQUEST_ENTITY_TOO_LARGE")
        responses.setdefault(415, "UNSUPPORTED_MEDIA_TYPE")

    @staticmethod
    def _responses(method: str, operation: dict, has_path_params: bool) -> None:
        responses = operation["responses"]
        if has_path_params:
            responses.setdefault(404, "NOT_FOUND")
        statuses = {int(code) for code in responses if str(code).isdigit()}
        parameters = operation.setdefault("parameters", [])
        names = {p.get("name") for p in parameters if isinstance(p, dict)}
        versioned = bool(statuses & {304, 412, 428})
        if 304 in statuses and "If-None-Match" not in names:
            parameters.append(dict(IF_NONE_MATCH))
        if statuses & {412, 428} and "If-Match" not in names:
            parameters.append({**IF_MATCH, "required": 428 in statuses})
        if not parameters:
            del operation["parameters"]
        for code in list(responses):
            status = int(code)
            response = responses[code]
            if status >= 400:
                description = response.get("description") if isinstance(response, dict) else None
                responses[code] = error_response(status, description)
                if status == 409 and method == "post":
                    responses[code]["headers"] = {"Retry-After": RETRY_AFTER_HEADER}
            elif status == 304:
                responses[code] = {"description": "Not Modified: the ETag matches.",
                                   "headers": {"ETag": ETAG_HEADER}}
            elif 200 <= status < 300 and status != 204 and isinstance(response, dict):
                response.setdefault("description", http.HTTPStatus(status).phrase)
                headers = response.setdefault("headers", {})
                if versioned or status == 201:
                    headers["ETag"] = ETAG_HEADER
                if status == 201:
                    headers["Location"] = LOCATION_HEADER
                if method == "post":
                    headers["Idempotent-Replayed"] = REPLAYED_HEADER
                if not headers:
                    del response["headers"]
        operation["responses"] = dict(sorted(responses.items(), key=lambda kv: int(kv[0])))
