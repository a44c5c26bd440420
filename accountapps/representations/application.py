"""The account application: request schemas and the HAL renderers."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from marshmallow import ValidationError, fields, missing, post_load, validate

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.domain import catalog, lifecycle, masking
from accountapps.domain.applications import SEEDABLE_STATES
from accountapps.domain.errors import validation_error
from accountapps.domain.workflow import APPLICANT_TYPES, CONSENT_TYPES
from accountapps.representations import checklist, places, validators
from accountapps.representations.audit import audit_trail_href
from accountapps.representations.common import (
    Body,
    BoundedList,
    CollectionSchema,
    MoneySchema,
    SummarySchema,
    Timestamp,
    action_links,
    embedded_items,
    links_field,
)
from accountapps.representations.enrollment import date_time_field
from accountapps.representations.product import product_href
from accountapps.representations.record import record_href
from accountapps.storage import jsoncodec
from accountapps.storage.models import timestamp
from accountapps.web import hal
from accountapps.web.errors import flatten_messages

_name = validate.Length(max=255)

#: Most applicants (related parties) of one application.
MAX_APPLICANTS = 10


# --- request schemas ---------------------------------------------------------

class AccountNumbersSchema(Body):
    full = fields.String(required=True, validate=validators.account_number)
    masked = fields.String(dump_only=True)


class FundingAccountSchema(Body):
    title = fields.String(validate=_name)
    institutionName = fields.String(validate=_name)
    routingNumber = fields.String(required=True, validate=validators.routing_number)
    accountNumbers = fields.Nested(AccountNumbersSchema, required=True)
    _links = links_field()


class OrganizationSchema(Body):
    _id = fields.String(data_key="_id", dump_only=True)
    name = fields.String(validate=_name)
    type = fields.String(validate=_name)
    taxId = fields.String(validate=validate.Regexp(r"^[0-9*-]{4,20}$"))
    _links = links_field()


class ContactSchema(Body):
    _id = fields.String(data_key="_id", dump_only=True)
    firstName = fields.String(validate=_name)
    middleName = fields.String(validate=_name)
    lastName = fields.String(validate=_name)
    preferredName = fields.String(validate=_name)
    suffix = fields.String(validate=validate.Length(max=32))
    _links = links_field()


class RoleSchema(Body):
    _id = fields.String(data_key="_id", dump_only=True)
    createdAt = Timestamp(dump_only=True)
    description = fields.String(dump_only=True)
    name = fields.String(required=True, validate=_name)
    label = fields.String(validate=_name)
    _links = links_field()


class ApplicantSchema(Body):
    _id = fields.String(data_key="_id", validate=validate.Length(max=64))
    username = fields.String(validate=_name)
    contact = fields.Nested(ContactSchema, required=True)
    role = fields.Nested(RoleSchema)
    _links = links_field()


class ProductRefSchema(Body):
    _id = fields.String(data_key="_id", dump_only=True)
    name = fields.String(validate=_name)
    # Read for the product's id only, and shown on the platform's host (render_application).
    _links = links_field(required=True, any_host=("self",))

    @post_load
    def _platform_path(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """A product reference is kept as the platform's path of the product it names
        (``/products/products/{id}``), on whatever host it was sent: sending back the
        representation fetched (the platform's absolute URI) changes nothing."""
        link = data["_links"].get("self")
        product_id = catalog.product_id_from_ref(link["href"]) if link else None
        if product_id:
            data["_links"] = {**data["_links"], "self": {
                **link, "href": f"/products/products/{product_id}"}}
        return data


class DocumentSchema(Body):
    """A document the applicant provides; its review state is the institution's."""

    _id = fields.String(data_key="_id", validate=validate.Length(max=64))
    state = fields.String(dump_only=True)
    createdAt = Timestamp(dump_only=True)
    reviewedAt = Timestamp(dump_only=True, allow_none=True)
    reviewReason = fields.String(dump_only=True, allow_none=True)
    type = fields.String(required=True, validate=validate.Length(min=1, max=64))
    name = fields.String(validate=_name)
    contentType = fields.String(validate=validate.Length(max=128))
    uri = fields.String(validate=validate.Length(max=2048))
    _links = links_field()


class ConsentDocumentSchema(Body):
    uri = fields.String(validate=validate.Length(max=2048))
    contentType = fields.String(validate=validate.Length(max=128))
    revisionId = fields.String(validate=validate.Length(max=64))
    revisedAt = date_time_field()


class ConsentSchema(Body):
    """Consent given (or revoked) by the applicant; ``givenAt``/``userId`` are set by us."""

    _id = fields.String(data_key="_id", dump_only=True)
    givenAt = Timestamp(dump_only=True, allow_none=True)
    userId = fields.String(dump_only=True, allow_none=True)
    type = fields.String(required=True, validate=validate.OneOf(CONSENT_TYPES))
    state = fields.String(load_default="given", validate=validate.OneOf(("given", "revoked")))
    document = fields.Nested(ConsentDocumentSchema)
    contextUri = fields.String(validate=validate.Length(max=2048))
    _links = links_field()


class ApplicationUpdateSchema(Body):
    """The body of ``PUT``/``PATCH``: the representation; ``_links`` is ignored, as the
    reference says, and the fields the server owns (``readOnly``) are accepted and ignored.
    """

    read_only = frozenset({"_links"})

    _id = fields.String(data_key="_id", dump_only=True)
    _profile = fields.String(data_key="_profile", dump_only=True)
    applicantName = fields.String(allow_none=True, dump_only=True)
    accountName = fields.String(allow_none=True, validate=_name)
    applicantType = fields.String(
        allow_none=True, validate=validate.OneOf(APPLICANT_TYPES),
        metadata={"description": "Who applies: a person, or a business. Left out, the "
                                 "product's only applicant type; kept when an update leaves "
                                 "it out. The product's requirements depend on it."})
    country = fields.String(
        allow_none=True, validate=places.country_code,
        metadata={"description": "Where the person lives or the business is registered "
                                 "(ISO 3166-1 alpha-2). Left out, the product's only country; "
                                 "kept when an update leaves it out."})
    productName = fields.String(allow_none=True, dump_only=True)
    organizationName = fields.String(allow_none=True, dump_only=True)
    fundingAmount = fields.Nested(MoneySchema, allow_none=True)
    state = fields.String(dump_only=True, validate=validate.OneOf(tuple(lifecycle.TRANSITIONS)))
    workflowState = fields.String(dump_only=True)
    createdAt = Timestamp(dump_only=True)
    completedAt = Timestamp(allow_none=True, dump_only=True)
    fundingAccount = fields.Nested(FundingAccountSchema, allow_none=True)
    organization = fields.Nested(OrganizationSchema, allow_none=True)
    # At most 10 related parties per call, as the neighbouring clients API allows.
    applicants = BoundedList(fields.Nested(ApplicantSchema), MAX_APPLICANTS)
    products = BoundedList(fields.Nested(ProductRefSchema), 10)
    documents = BoundedList(fields.Nested(DocumentSchema), 50)
    accountApproval = fields.Dict(dump_only=True)
    consents = BoundedList(fields.Nested(ConsentSchema), 20)
    tasks = fields.List(fields.Nested(checklist.TaskSchema), dump_only=True)
    blockers = fields.List(fields.Nested(checklist.BlockerSchema), dump_only=True)
    nextAction = fields.Nested(checklist.NextActionSchema, allow_none=True, dump_only=True)
    identityVerifications = fields.List(
        fields.Nested(checklist.IdentityVerificationRecordSchema), dump_only=True)


class ApplicationCreateSchema(ApplicationUpdateSchema):
    """createApplication: ``_links`` names the product (and funding account, organization).

    ``state`` seeds the application (the institution only; see docs/decisions.md).
    """

    read_only = frozenset()
    #: The product is named by ``_links.apiture:product`` or, failing that, by the
    #: ``self`` link of the first of ``products`` (domain.applications.create; else 400).
    member_rules = {
        "if": {"not": {"required": ["_links"],
                       "properties": {"_links": {"required": ["apiture:product"]}}}},
        "then": {"required": ["products"], "properties": {"products": {
            "minItems": 1, "items": {"required": ["_links"],
                                     "properties": {"_links": {"required": ["self"]}}}}}},
    }
    # The product reference is read for its id only (the representation links the
    # platform's product): any host, as the contract says.
    _links = links_field(any_host=("apiture:product",))
    state = fields.String(metadata={
        "enum": list(SEEDABLE_STATES),
        "description": (
            "The state to seed the application in, with initial data from an external "
            "source (for example `approved`: a pre-approved application). Honoured for "
            "the financial institution (`admin/write`) only; anyone else's is ignored "
            "and the application starts `running`.")})


class ApplicationSchema(ApplicationCreateSchema):
    """The application representation."""

    _links = links_field(required=True)
    state = fields.String(dump_only=True, validate=validate.OneOf(tuple(lifecycle.TRANSITIONS)))


class ApplicationSummarySchema(SummarySchema):
    """An application in a collection page."""

    accountName = fields.String(allow_none=True)
    applicantName = fields.String(allow_none=True)
    productName = fields.String(allow_none=True)
    organizationName = fields.String(allow_none=True)
    createdAt = Timestamp()
    completedAt = Timestamp(allow_none=True)


class ApplicationsSchema(CollectionSchema):
    """A page of applications."""

    _embedded = embedded_items(ApplicationSummarySchema, "ApplicationsEmbedded")


# --- renderers ---------------------------------------------------------------

def _masked_funding_account(account: dict[str, Any], pii: bool) -> dict[str, Any]:
    numbers = account.get("accountNumbers") or {}
    full = numbers.get("full")
    rendered = dict(account)
    rendered["accountNumbers"] = {
        "full": full if pii else masking.mask(full),
        "masked": masking.mask(full),
    }
    return rendered


def _masked_organization(organization: dict[str, Any], pii: bool) -> dict[str, Any]:
    rendered = dict(organization)
    if rendered.get("taxId") and not pii:
        rendered["taxId"] = masking.mask(rendered["taxId"])
    return rendered


def snapshot_view(snapshot: dict[str, Any], pii: bool) -> dict[str, Any]:
    """A decision's snapshot of an application (in its audit record), masked as the
    application itself is for a reader without ``profiles/readPii``."""
    shown = dict(snapshot)
    if shown.get("fundingAccount"):
        shown["fundingAccount"] = _masked_funding_account(shown["fundingAccount"], pii)
    if shown.get("organization"):
        shown["organization"] = _masked_organization(shown["organization"], pii)
    return shown


def _render_approval(approval: dict[str, Any]) -> dict[str, Any]:
    host = hal.platform_url()
    rendered = dict(approval)
    kind = dict(approval.get("type") or {})
    if kind.get("_id"):
        kind["_links"] = hal.links(self=f"{host}/approvals/approvalTypes/{kind['_id']}")
        rendered["type"] = kind
    rendered["_links"] = hal.links(self=f"{host}/approvals/approvals/{approval['_id']}")
    return rendered


def _render_products(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``products``, each linked to the product it names (:func:`product_href`): a
    client's product reference may name any host (it is read for the id only), so
    its href is never shown as sent."""
    rendered = []
    for item in items:
        link = (item.get("_links") or {}).get("self") or {}
        product = catalog.resolve(link["href"]) if isinstance(link.get("href"), str) else None
        shown = {key: value for key, value in item.items() if key != "_links"}
        if product is not None:
            shown["_links"] = {**item["_links"], "self": {
                **link, "href": product_href(product.id)}}
        rendered.append(shown)
    return rendered


def render_application(row: Any, principal: Principal, kind: lifecycle.Kind) -> dict[str, Any]:
    """The full HAL representation of an application, as ``principal`` may see it."""
    doc = row.document
    pii = policy.may_read_pii(principal)
    self_href = hal.api_url(f"/applications/{row.id}")
    body: dict[str, Any] = {
        "_id": row.id,
        "_profile": hal.profile("application"),
        "applicantName": row.applicant_name,
        "accountName": row.account_name,
        "productName": row.product_name,
        "organizationName": row.organization_name,
        "applicantType": doc.get("applicantType"),
        "country": doc.get("country"),
        "state": row.state,
        "workflowState": row.workflow_state,
        "createdAt": timestamp(row.created_at),
        "completedAt": timestamp(row.completed_at),
    }
    if doc.get("fundingAmount"):
        body["fundingAmount"] = doc["fundingAmount"]
    if doc.get("fundingAccount"):
        body["fundingAccount"] = _masked_funding_account(doc["fundingAccount"], pii)
    body["organization"] = _masked_organization(doc.get("organization") or {}, pii)
    body["applicants"] = doc.get("applicants") or []
    body["products"] = _render_products(doc.get("products") or [])
    body["documents"] = doc.get("documents") or []
    approval = doc.get("accountApproval")
    if approval:
        body["accountApproval"] = _render_approval(approval)
    body["consents"] = doc.get("consents") or []
    stored = doc.get("links") or {}
    body["_links"] = {
        **hal.links(
            self=self_href,
            apiture_product=product_href(row.product_id),
            apiture_workflow=hal.api_url(f"/applications/{row.id}/workflow"),
            apiture_fundingAccount=stored.get("fundingAccount"),
            apiture_applicant=stored.get("applicant"),
            apiture_organization=stored.get("organization"),
            apiture_approval=(
                body["accountApproval"]["_links"]["self"]["href"] if approval else None),
            apiture_auditTrail=audit_trail_href("/applications/{id}", row.id, principal),
            apiture_record=record_href("/applications/{id}", row, principal),
        ),
        **action_links(kind, row, principal),
    }
    return body


def summary_renderer() -> Callable[[Any], dict[str, Any]]:
    """A collection item's renderer (id, profile, self link, state, the name fields)
    for one page: the host-dependent parts are built once, not once per item."""
    profile = hal.profile("applicationSummary")
    prefix = hal.api_url("/applications/")

    def render(row: Any) -> dict[str, Any]:
        return {
            "_id": row.id,
            "_profile": profile,
            "name": row.account_name,
            "accountName": row.account_name,
            "applicantName": row.applicant_name,
            "productName": row.product_name,
            "organizationName": row.organization_name,
            "state": row.state,
            "createdAt": timestamp(row.created_at),
            "completedAt": timestamp(row.completed_at),
            "_links": {"self": {"href": prefix + row.id}},
        }

    return render


# --- loading a written document ------------------------------------------------

def _keep_masked(incoming: dict[str, Any], stored: Mapping[str, Any]) -> None:
    """A masked value sent back as it was shown (``******3210``) keeps the stored one.

    Only the stored value's own mask stands for it: any other masked-looking
    value is left as sent, for the domain to refuse.
    """
    numbers = ((incoming.get("fundingAccount") or {}).get("accountNumbers") or {})
    old_numbers = ((stored.get("fundingAccount") or {}).get("accountNumbers") or {})
    if masking.is_mask_of(numbers.get("full"), old_numbers.get("full")):
        numbers["full"] = old_numbers["full"]
    organization = incoming.get("organization") or {}
    old_tax_id = (stored.get("organization") or {}).get("taxId")
    if masking.is_mask_of(organization.get("taxId"), old_tax_id):
        organization["taxId"] = old_tax_id


#: One instance for every request: a new schema deep-copies its fields and those
#: of every nested schema; load() keeps
#: no state on the instance, so sharing it is safe.
_UPDATE_SCHEMA = ApplicationUpdateSchema()
#: One schema per top-level field (``only``), to load a single field's value.
_FIELD_SCHEMAS: dict[str, ApplicationUpdateSchema] = {}
#: (field, its value as JSON) -> the loaded value as JSON; least recently used last.
_LOADED: OrderedDict[tuple[str, str], str] = OrderedDict()
_LOADED_MAX = 1024


def _load_update(incoming: Any) -> dict[str, Any]:
    """``_UPDATE_SCHEMA.load(incoming)``, reusing the loads of unchanged fields.

    A PATCH sends a few fields, but the merged document is validated whole, and
    the stored fields (applicants, contacts, links: most of the work)
    are the same on every PATCH of an application. The schema's top-level fields
    are independent (no schema-level validator or post-load hook; each
    validator is a pure function of the value), so each field's value loads on
    its own to the same result, and a value loaded before loads again to the
    same result. Anything unusual (unknown or missing required fields, any
    error) goes through the whole-schema load, for its exact messages.
    """
    if not isinstance(incoming, dict):
        return _UPDATE_SCHEMA.load(incoming)
    fields = _UPDATE_SCHEMA.load_fields
    by_key = {field.data_key or name: name for name, field in fields.items()}
    ignored = _UPDATE_SCHEMA.ignored_on_load
    keys = [key for key in incoming if key not in ignored]
    if any(key not in by_key for key in keys) or any(
            (field.required or field.load_default is not missing)
            and (field.data_key or name) not in incoming for name, field in fields.items()):
        return _UPDATE_SCHEMA.load(incoming)
    result: dict[str, Any] = {}
    for key in keys:
        try:
            cache_key = (key, jsoncodec.dumps(incoming[key]))
        except (TypeError, ValueError):
            return _UPDATE_SCHEMA.load(incoming)
        cached = _LOADED.get(cache_key)
        if cached is not None:
            _LOADED.move_to_end(cache_key)
            result[by_key[key]] = jsoncodec.loads(cached)
            continue
        schema = _FIELD_SCHEMAS.get(key)
        if schema is None:
            schema = _FIELD_SCHEMAS[key] = ApplicationUpdateSchema(only=(by_key[key],))
        try:
            loaded = schema.load({key: incoming[key]})
        except ValidationError:
            return _UPDATE_SCHEMA.load(incoming)  # raises, with every field's messages
        if by_key[key] not in loaded:
            continue
        value = loaded[by_key[key]]
        try:
            _LOADED[cache_key] = jsoncodec.dumps(value, strict=True)
        except (TypeError, ValueError):
            result[by_key[key]] = value  # not JSON (no such field today): not cached
            continue
        if len(_LOADED) > _LOADED_MAX:
            _LOADED.popitem(last=False)
        result[by_key[key]] = value
    return result


def load_update(incoming: Any, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The document a PUT or PATCH writes (the body, or the body merged into the
    stored document), validated: ``400 invalidFields`` naming each bad field.

    A masked value sent back as it was shown stands for the stored one. The
    whole document is validated once, here; fields unchanged since an earlier
    load are not loaded again (see :func:`_load_update`).
    """
    if isinstance(incoming, dict):
        _keep_masked(incoming, stored)
    try:
        return _load_update(incoming)
    except ValidationError as exc:
        raise validation_error(flatten_messages(exc.messages), 400) from exc
