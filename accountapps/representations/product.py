"""The product catalog: products, their workflow, and what they require of an applicant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from marshmallow import Schema, fields, validate

from accountapps.domain import workflow
from accountapps.domain.catalog import PRODUCT_TYPES, Product, Requirements
from accountapps.domain.collection_query import Page
from accountapps.representations.collection import render_page
from accountapps.representations.common import (
    CollectionSchema,
    MoneySchema,
    SummarySchema,
    embedded_items,
    links_field,
)
from accountapps.web import hal

#: Where the catalog is, under the API's base path.
PATH = "/products"

_APPLICANT_TYPES = validate.OneOf(workflow.APPLICANT_TYPES)
_KINDS = validate.OneOf(workflow.REQUIREMENT_KINDS)


def product_href(product_id: str) -> str:
    """Where a product is: the institution's own Products API when
    ``ACCOUNTAPPS_PLATFORM_URL`` names one (the reference's
    ``/products/products/{id}``), else this service's catalog resource."""
    platform = hal.institution_platform_url()
    if platform:
        return f"{platform}/products/products/{product_id}"
    return hal.api_url(f"{PATH}/{product_id}")


# --- schemas (documentation of responses, and the profiles) ----------------------

class TaskConditionSchema(Schema):
    """Whom a task applies to (all that are given must hold)."""

    applicantTypes = fields.List(fields.String(validate=_APPLICANT_TYPES))
    countries = fields.List(fields.String(), metadata={
        "description": "Only applicants in these countries (ISO 3166-1 alpha-2)."})
    exceptCountries = fields.List(fields.String(), metadata={
        "description": "Only applicants in any other country."})


class ProductTaskSchema(Schema):
    """One task of a product's workflow definition: who completes it and what completes it."""

    _id = fields.String(data_key="_id", required=True)
    type = fields.String(required=True, validate=validate.OneOf(tuple(workflow.TASK_TYPES)))
    label = fields.String()
    actor = fields.String(validate=validate.OneOf((workflow.APPLICANT, workflow.INSTITUTION)),
                          metadata={"description": "Who completes it."})
    completion = fields.String(required=True,
                               metadata={"description": "What completes it, in words."})
    when = fields.Nested(TaskConditionSchema, metadata={
        "description": "Whom it applies to; without it, every applicant."})
    consent = fields.String(metadata={"description": "The consent type (consent tasks)."})
    document = fields.String(metadata={
        "description": "The document type (document and documentReview tasks)."})
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields", metadata={
        "description": "The organization's fields to give (organization tasks)."})
    requiredRoles = fields.List(fields.String(), metadata={
        "description": "The roles the applicants must hold (relatedParties tasks)."})
    currency = fields.String(metadata={"description": "Funding tasks: the currency."})
    minimum = fields.String(metadata={"description": "Funding tasks: the least amount."})
    maximum = fields.String(metadata={"description": "Funding tasks: the greatest amount."})


class ProductWorkflowSchema(Schema):
    """The workflow definition an application made now starts with."""

    _id = fields.String(data_key="_id", required=True)
    version = fields.Integer(required=True)
    tasks = fields.List(fields.Nested(ProductTaskSchema), required=True)


class ProductSchema(Schema):
    """A product of the catalog: whom it is offered to, and how an application for it is
    completed."""

    _id = fields.String(data_key="_id", required=True)
    _profile = fields.String(data_key="_profile", required=True)
    name = fields.String(required=True)
    type = fields.String(required=True, validate=validate.OneOf(PRODUCT_TYPES))
    currency = fields.String(required=True)
    minimumFunding = fields.Nested(MoneySchema, required=True)
    maximumFunding = fields.Nested(MoneySchema, required=True)
    applicantTypes = fields.List(fields.String(validate=_APPLICANT_TYPES), required=True)
    countries = fields.List(fields.String(), required=True, metadata={
        "description": "The countries it is offered in (ISO 3166-1 alpha-2)."})
    workflow = fields.Nested(ProductWorkflowSchema, required=True)
    _links = links_field(required=True)


class ProductSummarySchema(SummarySchema):
    """A product in a page of the catalog."""

    type = fields.String(validate=validate.OneOf(PRODUCT_TYPES))
    currency = fields.String()
    applicantTypes = fields.List(fields.String(validate=_APPLICANT_TYPES))
    countries = fields.List(fields.String())


class ProductsSchema(CollectionSchema):
    """A page of the product catalog."""

    _embedded = embedded_items(ProductSummarySchema, "ProductsEmbedded")


class RequirementSchema(Schema):
    """One input the product requires of the applicant."""

    _id = fields.String(data_key="_id", required=True, metadata={
        "description": "`kind:name`, as the blockers of an application name it "
                       "(their `requirement`)."})
    kind = fields.String(required=True, validate=_KINDS)
    name = fields.String(required=True, metadata={
        "description": "The field, the consent type, the document type or the role."})
    field = fields.String(required=True, metadata={
        "description": "Where in the application it goes (`fundingAmount`, `documents`)."})
    task = fields.String(required=True, metadata={"description": "The workflow task asking."})
    label = fields.String()
    attributes = fields.Dict(metadata={"description": "The funding amount's limits."})


class WorkflowVersionSchema(Schema):
    """Which workflow definition, and which version of it."""

    _id = fields.String(data_key="_id", required=True)
    version = fields.Integer(required=True)


class ProductRequirementsSchema(Schema):
    """What a product requires of an applicant of one type in one country: the inputs a
    form asks for, and exactly those an application's approval will need."""

    _id = fields.String(data_key="_id", required=True)
    _profile = fields.String(data_key="_profile", required=True)
    productId = fields.String(required=True)
    productName = fields.String(required=True)
    applicantType = fields.String(required=True, validate=_APPLICANT_TYPES)
    country = fields.String(required=True)
    workflow = fields.Nested(WorkflowVersionSchema, required=True)
    fields_ = fields.List(fields.Nested(RequirementSchema), required=True, data_key="fields",
                          attribute="fields")
    consents = fields.List(fields.Nested(RequirementSchema), required=True)
    documents = fields.List(fields.Nested(RequirementSchema), required=True)
    relatedParties = fields.List(fields.Nested(RequirementSchema), required=True, metadata={
        "description": "The roles the applicants must hold (role.name)."})
    _links = links_field(required=True)


# --- renderers -------------------------------------------------------------------

def _money(value: Any, currency: str) -> dict[str, str]:
    return {"value": str(value), "currency": currency}


def _task(task: dict[str, Any]) -> dict[str, Any]:
    shown = {key: task[key] for key in ("_id", "type", "label", "actor") if key in task}
    shown["completion"] = workflow.completion(task)
    for key in ("when", "consent", "document", "fields", "requiredRoles", "currency",
                "minimum", "maximum"):
        if key in task:
            shown[key] = task[key]
    return shown


def _requirements_href(product: Product) -> str:
    return hal.api_url(f"{PATH}/{product.id}/requirements")


def render_product(product: Product) -> dict[str, Any]:
    """A product, with its current workflow definition (as an application made now
    would snapshot it) and a templated link to its requirements."""
    definition = workflow.snapshot(product)
    return {
        "_id": product.id,
        "_profile": hal.profile("product"),
        "name": product.name,
        "type": product.type,
        "currency": product.currency,
        "minimumFunding": _money(product.minimum_funding, product.currency),
        "maximumFunding": _money(product.maximum_funding, product.currency),
        "applicantTypes": list(product.applicant_types),
        "countries": list(product.countries),
        "workflow": {"_id": definition["_id"], "version": definition["version"],
                     "tasks": [_task(task) for task in definition["tasks"]]},
        "_links": {
            "self": hal.link(hal.api_url(f"{PATH}/{product.id}")),
            "apiture:requirements": hal.link(
                _requirements_href(product) + "{?applicantType,country}", templated=True),
        },
    }


def summary_renderer() -> Callable[[Product], dict[str, Any]]:
    """A catalog page item's renderer (the host-dependent parts built once per page)."""
    profile = hal.profile("productSummary")
    prefix = hal.api_url(f"{PATH}/")

    def render(product: Product) -> dict[str, Any]:
        return {
            "_id": product.id,
            "_profile": profile,
            "name": product.name,
            "type": product.type,
            "currency": product.currency,
            "applicantTypes": list(product.applicant_types),
            "countries": list(product.countries),
            "_links": {"self": {"href": prefix + product.id}},
        }

    return render


def render_products(page: Page) -> dict[str, Any]:
    """A page of the catalog."""
    return render_page(page, name="products", path=PATH, profile="products",
                       item=summary_renderer())


def _requirement(need: dict[str, Any]) -> dict[str, Any]:
    return {key: need[key] for key in ("_id", "kind", "name", "field", "task", "label",
                                       "attributes") if key in need}


def render_requirements(found: Requirements) -> dict[str, Any]:
    """What a product requires of one kind of applicant, by kind of input."""
    product, profile = found.product, found.profile
    query = {"applicantType": profile.applicant_type, "country": profile.country}

    def of(kind: str) -> list[dict[str, Any]]:
        return [_requirement(need) for need in found.items if need["kind"] == kind]

    return {
        "_id": f"{product.id}:{profile.applicant_type}:{profile.country}",
        "_profile": hal.profile("productRequirements"),
        "productId": product.id,
        "productName": product.name,
        "applicantType": profile.applicant_type,
        "country": profile.country,
        "workflow": {"_id": found.definition["_id"], "version": found.definition["version"]},
        "fields": of(workflow.FIELD),
        "consents": of(workflow.CONSENT),
        "documents": of(workflow.DOCUMENT),
        "relatedParties": of(workflow.RELATED_PARTY),
        "_links": hal.links(
            self=hal.api_url(f"{PATH}/{product.id}/requirements", query),
            apiture_product=hal.api_url(f"{PATH}/{product.id}"),
        ),
    }
