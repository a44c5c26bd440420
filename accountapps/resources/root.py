"""The API root and the service's own OpenAPI document."""

from __future__ import annotations

from flask import Response, request
from marshmallow import Schema, fields

from accountapps import apidoc
from accountapps.auth.security import PUBLIC, requires
from accountapps.domain import applications, enrollments
from accountapps.representations.common import ErrorResponseSchema, links_field
from accountapps.resources import products
from accountapps.resources.common import collection_links
from accountapps.web import hal
from accountapps.web.bodies import Blueprint

blp = Blueprint("root", __name__, url_prefix=hal.BASE_PATH,
                description="The API root: start here and follow links.")

API_VERSION = "0.18.3"

#: rel -> path of every collection and action collection, linked from the root.
COLLECTIONS: dict[str, str] = {**collection_links(applications.KIND, enrollments.KIND),
                               "apiture:products": products.PATH,
                               "apiture:events": "/events",
                                "apiture:webhookSubscriptions": "/webhookSubscriptions"}


class RootSchema(Schema):
    """The API root document."""

    _id = fields.String(data_key="_id", required=True)
    _profile = fields.String(data_key="_profile", required=True)
    name = fields.String(required=True)
    apiVersion = fields.String(required=True)
    _links = links_field(required=True)


@blp.route("/", methods=["GET"])
@blp.response(200, RootSchema)
@blp.alt_response(401, schema=ErrorResponseSchema)
@requires(PUBLIC)
def get_api() -> Response:
    """The API root: links to every collection."""
    return hal.response({
        "_id": "accountApplications",
        "_profile": hal.profile("root"),
        "name": "Account Applications",
        "apiVersion": API_VERSION,
        "_links": _root_links(),
    })


def _root_links() -> dict[str, dict]:
    links = {"self": hal.link(hal.api_url("/"))}
    links["apiture:apiDoc"] = hal.link(hal.api_url("/apiDoc"))
    links["apiture:docs"] = hal.link(hal.api_url(apidoc.DOCS_PATH), type="text/html")
    links["apiture:errors"] = hal.link(hal.api_url("/errors"))
    for rel, path in COLLECTIONS.items():
        links[rel] = hal.link(hal.api_url(path))
    return links


#: Media types of the apiDoc answer; JSON unless the client prefers YAML.
API_DOC_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml")


@blp.route("/apiDoc", methods=["GET"])
@blp.response(200, description="The OpenAPI document (JSON, or YAML when Accept prefers it).")
@blp.doc(responses={200: {"content": {
    "application/json": {"schema": {"type": "object"}},
    # YAML text: no schema, since tools disagree on whether to read it as text
    # or parse it; the JSON answer's schema describes the document.
    "application/yaml": {},
}}})
@blp.alt_response(401, schema=ErrorResponseSchema)
@requires(PUBLIC)
def get_api_doc() -> Response:
    """The OpenAPI document of this service (the content of ``openapi/openapi.yaml``)."""
    best = request.accept_mimetypes.best_match(API_DOC_TYPES, default="application/json")
    if best and best != "application/json":
        response = Response(apidoc.rendered("yaml"), mimetype="application/yaml")
    else:
        response = Response(apidoc.rendered("json"), mimetype="application/json")
    response.vary.add("Accept")  # the body depends on it: caches must keep both
    return response
