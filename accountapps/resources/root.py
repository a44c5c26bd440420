"""The API root and the service's own OpenAPI document."""

from __future__ import annotations

from flask import Response, current_app
from flask_smorest import Blueprint
from marshmallow import Schema, fields

from .. import hal
from ..representations.common import ErrorResponseSchema
from ..security import PUBLIC, requires

blp = Blueprint("root", __name__, url_prefix=hal.BASE_PATH,
                description="The API root: start here and follow links.")

API_VERSION = "0.18.3"

#: rel -> path of every collection and action collection, linked from the root.
COLLECTIONS: dict[str, str] = {
    "apiture:applications": "/applications",
    "apiture:runningApplications": "/runningApplications",
    "apiture:blockedApplications": "/blockedApplications",
    "apiture:approvedApplications": "/approvedApplications",
    "apiture:rejectedApplications": "/rejectedApplications",
    "apiture:canceledApplications": "/canceledApplications",
    "apiture:expiredApplications": "/expiredApplications",
    "apiture:enrollments": "/enrollments",
    "apiture:approvedEnrollments": "/approvedEnrollments",
    "apiture:rejectedEnrollments": "/rejectedEnrollments",
}


class RootSchema(Schema):
    """The API root document."""

    _id = fields.String(data_key="_id")
    _profile = fields.String(data_key="_profile")
    name = fields.String()
    apiVersion = fields.String()
    _links = fields.Dict(data_key="_links")


@blp.route("/", methods=["GET"])
@blp.response(200, RootSchema)
@blp.alt_response(401, schema=ErrorResponseSchema)
@requires(PUBLIC)
def get_api() -> Response:
    """The API root: links to every collection."""
    links = {"self": hal.link(hal.api_url("/"))}
    links["apiture:apiDoc"] = hal.link(hal.api_url("/apiDoc"))
    for rel, path in COLLECTIONS.items():
        links[rel] = hal.link(hal.api_url(path))
    body = {
        "_id": "accountApplications",
        "_profile": hal.profile("root"),
        "name": "Account Applications",
        "apiVersion": API_VERSION,
        "_links": links,
    }
    return hal.response(body)


@blp.route("/apiDoc", methods=["GET"])
@blp.response(200)
@blp.alt_response(401, schema=ErrorResponseSchema)
@requires(PUBLIC)
def get_api_doc() -> Response:
    """The OpenAPI document of this service."""
    spec = current_app.extensions["flask-smorest"]["apis"][""]["ext_obj"].spec
    return Response(hal.dumps(spec.to_dict()), mimetype="application/json")
