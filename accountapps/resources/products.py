"""The product catalog: the products, and what each requires, before anyone applies.

Read-only, and the same for every caller with ``banking/read``. ETags come from
the catalog's content version, so a changed catalog file changes them.
"""

from __future__ import annotations

from flask import Response, current_app, request
from marshmallow import Schema, fields

from accountapps.auth.security import requires
from accountapps.domain import catalog
from accountapps.representations.product import (
    PATH,
    ProductRequirementsSchema,
    ProductSchema,
    ProductsSchema,
    render_product,
    render_products,
    render_requirements,
)
from accountapps.resources.common import PagingArgs, error_responses, versioned_response
from accountapps.web import hal
from accountapps.web.bodies import Blueprint

blp = Blueprint(
    "products", __name__, url_prefix=hal.BASE_PATH,
    description="The product catalog: each product, its workflow, and what it requires of "
                "an applicant before anyone applies.",
)


class ProductCollectionArgs(PagingArgs):
    """Query parameters of the catalog."""

    type = fields.String(metadata={"description": "`personal|business`: any of these types."})


class RequirementsArgs(Schema):
    """Who would apply (either may be left out when the product is offered to one only)."""

    applicantType = fields.String(metadata={"enum": ["individual", "business"],
                                            "description": "A person, or a business."})
    country = fields.String(metadata={
        "pattern": "^[A-Z]{2}$",
        "description": "Where the person lives or the business is registered (ISO 3166-1 "
                       "alpha-2)."})


@blp.route(PATH, methods=["GET"])
@blp.documents(ProductCollectionArgs(), location="query")
@blp.response(200, ProductsSchema)
@blp.alt_response(304, description="Not Modified")
@error_responses(blp, 400)
@requires("banking/read")
def get_products() -> Response:
    """Return the products an application may be made for."""
    current = catalog.current()
    page = catalog.page(current, request.args,
                        max_limit=current_app.config["ACCOUNTAPPS_MAX_LIMIT"])
    return versioned_response(current.version, lambda: render_products(page))


@blp.route(f"{PATH}/<product_id>", methods=["GET"])
@blp.response(200, ProductSchema)
@blp.alt_response(304, description="Not Modified")
@error_responses(blp, 404)
@requires("banking/read")
def get_product(product_id: str) -> Response:
    """Fetch a product: whom it is offered to, and its current workflow definition."""
    product = catalog.find(product_id)
    return versioned_response(product.version, lambda: render_product(product))


@blp.route(f"{PATH}/<product_id>/requirements", methods=["GET"])
@blp.documents(RequirementsArgs(), location="query")
@blp.response(200, ProductRequirementsSchema)
@blp.alt_response(304, description="Not Modified")
@error_responses(blp, 400, 404, 422)
@requires("banking/read")
def get_product_requirements(product_id: str) -> Response:
    """What the product requires of an applicant of this type, in this country."""
    found = catalog.requirements(product_id, request.args)
    return versioned_response(found.product.version, lambda: render_requirements(found))
