"""The error-type catalogue that every errorResponse's ``describedby`` link leads to."""

from __future__ import annotations

from flask import Response

from accountapps.auth.security import UNAUTHENTICATED, requires
from accountapps.domain.errors import ApiError
from accountapps.representations.common import ErrorResponseSchema
from accountapps.representations.error_type import (
    ErrorTypeSchema,
    ErrorTypesSchema,
    render_error_type,
    render_error_types,
)
from accountapps.web import hal
from accountapps.web.bodies import Blueprint
from accountapps.web.error_types import ERROR_TYPES

blp = Blueprint("errors", __name__, url_prefix=hal.BASE_PATH,
                description="What each error type means (no credentials needed).")


@blp.route("/errors", methods=["GET"])
@blp.response(200, ErrorTypesSchema)
@requires(UNAUTHENTICATED)
def get_error_types() -> Response:
    """Every error type the service can answer with."""
    return hal.response(render_error_types(ERROR_TYPES))


@blp.route("/errors/<error_type>", methods=["GET"])
@blp.response(200, ErrorTypeSchema)
@blp.alt_response(404, schema=ErrorResponseSchema)
@requires(UNAUTHENTICATED)
def get_error_type(error_type: str) -> Response:
    """What an error type means, and what a client should do about it."""
    described = ERROR_TYPES.get(error_type)
    if described is None:
        raise ApiError(404, "notFound", f"There is no error type {error_type[:64]!r}.")
    return hal.response(render_error_type(error_type, described))
