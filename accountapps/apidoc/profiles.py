"""JSON Schema profiles: the schema of every representation, at its ``_profile`` URI.

They are derived from the OpenAPI document's component schemas (which
apispec generates from the marshmallow schemas the service uses), so the
profiles, the OpenAPI document and the service cannot disagree. A profile is
published for every component that has a ``_profile`` property and is reachable
from a response: ``hal.profile(name)`` names exactly these.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, Response, current_app

from accountapps.apidoc.spec import finished
from accountapps.auth.security import UNAUTHENTICATED, requires
from accountapps.domain.errors import ApiError
from accountapps.web import hal

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
MEDIA_TYPE = "application/schema+json"
_REF_PREFIX = "#/components/schemas/"

blp = Blueprint("profiles", __name__, url_prefix=hal.BASE_PATH)


def _refs(node: Any) -> set[str]:
    """Names of the component schemas that ``node`` references directly."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
            found.add(ref[len(_REF_PREFIX):])
        for value in node.values():
            found |= _refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= _refs(value)
    return found


def _closure(names: set[str], components: dict[str, Any]) -> set[str]:
    """``names`` and every component they reference, transitively."""
    seen: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        pending.extend(_refs(components[name]) - seen)
    return seen


def _response_schemas(doc: dict[str, Any]) -> set[str]:
    names: set[str] = set()
    for item in doc["paths"].values():
        for operation in item.values():
            if isinstance(operation, dict):
                for response in operation.get("responses", {}).values():
                    names |= _refs(response.get("content", {}))
    return names


def profile_names(doc: dict[str, Any]) -> list[str]:
    """The representations that have a profile, sorted."""
    components = doc["components"]["schemas"]
    reachable = _closure(_response_schemas(doc), components)
    return sorted(name for name in reachable
                  if "_profile" in components[name].get("properties", {}))


def to_json_schema(node: Any, this: str = "") -> Any:
    """An OpenAPI 3.0 schema object as JSON Schema 2020-12.

    ``nullable`` becomes a ``null`` type (or an ``anyOf`` with one), and
    component references point into ``$defs`` (a reference to ``this``, the
    document's own schema, to ``#``).
    """
    if isinstance(node, list):
        return [to_json_schema(value, this) for value in node]
    if not isinstance(node, dict):
        return node
    converted = {key: to_json_schema(value, this) for key, value in node.items()
                 if key not in ("nullable", "example")}
    ref = converted.get("$ref")
    if isinstance(ref, str) and ref.startswith(_REF_PREFIX):
        target = ref[len(_REF_PREFIX):]
        converted["$ref"] = "#" if target == this else f"#/$defs/{target}"
    if node.get("nullable"):
        if isinstance(converted.get("type"), str):
            converted["type"] = [converted["type"], "null"]
        else:
            converted = {"anyOf": [converted, {"type": "null"}]}
    return converted


def json_schema(name: str, doc: dict[str, Any]) -> dict[str, Any]:
    """The standalone JSON Schema of the representation ``name``."""
    components = doc["components"]["schemas"]
    body = {"$schema": JSON_SCHEMA_DIALECT, "title": name,
            "x-apiture-version": hal.PROFILE_VERSION.removeprefix("v"),
            **to_json_schema(components[name], name)}
    dependencies = sorted(_closure({name}, components) - {name})
    if dependencies:
        body["$defs"] = {dep: to_json_schema(components[dep], name) for dep in dependencies}
    return body


def all_profiles(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``name`` -> JSON Schema of every published profile."""
    return {name: json_schema(name, doc) for name in profile_names(doc)}


def relative_path(name: str) -> str:
    """Where a profile lives under ``schemas/`` (and under the API's ``/schemas``)."""
    return f"{name}/{hal.PROFILE_VERSION}/profile.json"


def _cached(app: Flask) -> dict[str, dict[str, Any]]:
    cache = app.extensions.setdefault("accountapps.profiles", {})
    if not cache:
        cache.update(all_profiles(finished(app)))
    return cache


@blp.route("/schemas/<name>/<version>/profile.json", methods=["GET"])
@requires(UNAUTHENTICATED)
def get_profile(name: str, version: str) -> Response:
    """The JSON Schema that a ``_profile`` names (no credentials needed)."""
    profiles = _cached(current_app)
    if version != hal.PROFILE_VERSION or name not in profiles:
        raise ApiError(404, "notFound", f"There is no profile {name}/{version}.",
                       attributes={"name": name[:100], "version": version[:32]})
    response = Response(hal.dumps(profiles[name]), mimetype=MEDIA_TYPE)
    response.headers["Cache-Control"] = "public, max-age=3600"
    # Public documents: any site's tools may fetch them.
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
