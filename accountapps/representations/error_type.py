"""The error-type catalogue: what each ``_error.type`` means (``describedby`` targets)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields

from accountapps.representations.common import embedded_items, links_field
from accountapps.web import hal
from accountapps.web.error_types import ErrorType


class ErrorTypeSchema(Schema):
    """One error type: its usual status, a title, and what a client should do."""

    _id = fields.String(data_key="_id", required=True)
    _profile = fields.String(data_key="_profile", required=True)
    _links = links_field(required=True)
    type = fields.String(required=True)
    status = fields.Integer(required=True)
    title = fields.String(required=True)
    description = fields.String(required=True)


class ErrorTypesSchema(Schema):
    """Every error type the service can answer with."""

    _profile = fields.String(data_key="_profile", required=True)
    _links = links_field(required=True)
    count = fields.Integer(required=True)
    _embedded = embedded_items(ErrorTypeSchema, "ErrorTypesEmbedded")


def render_error_type(name: str, error_type: ErrorType) -> dict[str, Any]:
    """The description of the error type ``name``."""
    return {
        "_id": name,
        "_profile": hal.profile("errorType"),
        "_links": {"self": hal.link(hal.api_url(f"/errors/{name}")),
                   "collection": hal.link(hal.api_url("/errors"))},
        "type": name,
        "status": error_type.status,
        "title": error_type.title,
        "description": error_type.description,
    }


def render_error_types(types: dict[str, ErrorType]) -> dict[str, Any]:
    """The whole catalogue, in one document (it is small)."""
    return {
        "_profile": hal.profile("errorTypes"),
        "_links": {"self": hal.link(hal.api_url("/errors"))},
        "count": len(types),
        "_embedded": {"items": [render_error_type(name, error_type)
                                for name, error_type in types.items()]},
    }
