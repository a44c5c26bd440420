"""The enrollment in digital banking: request schemas and the HAL renderers.

The schemas follow the reference's ``createEnrollment`` and ``enrollment``
examples field by field. Embedded copies of other services' resources (the
contact, the user, the role, approvals, consents, the fraud report) keep their
``_id``, ``_profile``, ``_links`` and ``_embedded``, so a client gets back every
field it sent.

Who may write what is decided in :mod:`accountapps.domain.enrollments`: the
schemas validate every field, including the server-owned ones
(:data:`accountapps.domain.enrollments.SERVER_OWNED`), which only an
administrator's request may change.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from marshmallow import ValidationError, fields, pre_load, validate, validates_schema

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.domain import lifecycle, masking
from accountapps.domain.errors import validation_error
from accountapps.domain.workflow import CONSENT_TYPES
from accountapps.representations import places, validators
from accountapps.representations.audit import audit_trail_href
from accountapps.representations.common import (
    Body,
    BoundedList,
    CollectionSchema,
    EmbeddedField,
    StrictBoolean,
    SummarySchema,
    Timestamp,
    action_links,
    embedded_items,
    links_field,
)
from accountapps.representations.record import record_href
from accountapps.storage import jsoncodec
from accountapps.storage.models import timestamp
from accountapps.web import hal
from accountapps.web.errors import flatten_messages

_name = validate.Length(max=255)
_short = validate.Length(max=64)
_uri = validate.Length(min=1, max=2048)

# --- enumerations --------------------------------------------------------------

IDENTIFICATION_TYPES = ("taxId", "passport", "driversLicense", "stateId", "militaryId",
                        "permanentResidentCard", "other")
EMAIL_TYPES = ("personal", "work", "other", "unknown")
PHONE_TYPES = ("home", "mobile", "work", "fax", "pager", "other", "unknown")
ADDRESS_TYPES = ("home", "work", "mailing", "prior", "other", "unknown")
CITIZENSHIP_STATES = ("citizen", "permanentResident", "resident", "nonResident", "unknown")
RESIDENCY_STATUSES = ("resident", "permanentResident", "nonResident", "unknown")
#: The US Standard Occupational Classification major groups, plus the rest of life.
OCCUPATIONS = (
    "architectureAndEngineering", "artsDesignEntertainmentSportsAndMedia",
    "buildingAndGroundsCleaningAndMaintenance", "businessAndFinancialOperations",
    "communityAndSocialService", "computerAndMathematical", "constructionAndExtraction",
    "educationTrainingAndLibrary", "farmingFishingAndForestry", "foodPreparationAndServing",
    "healthcarePractitionersAndTechnical", "healthcareSupport",
    "installationMaintenanceAndRepair", "legal", "lifePhysicalAndSocialScience", "management",
    "militarySpecific", "officeAndAdministrativeSupport", "personalCareAndService",
    "production", "protectiveService", "salesAndRelated", "transportationAndMaterialMoving",
    "homemaker", "retired", "student", "unemployed", "other", "unknown",
)
EMPLOYMENT_STATUSES = ("fullTime", "partTime", "selfEmployed", "unemployed", "retired",
                       "student", "homemaker", "military", "other", "unknown")
POLITICAL_ASSOCIATIONS = ("self", "family", "closeAssociate", "none", "unknown")
CONTACT_METHODS = ("email", "phone", "sms", "mail", "unknown")
YEARS_AT_ADDRESS = ("lessThanOne", "oneToTwo", "twoToFive", "fiveToTen", "moreThanTen",
                    "unknown")
IDENTITY_STATES = ("verified", "unverified", "pending", "failed")
IDENTITY_SCORES = ("passed", "failed", "review", "unknown")
VERIFICATION_TYPES = ("fraudRiskReport", "quiz", "document", "other")
VERIFICATION_STATES = ("passed", "failed", "pending", "expired")
FRAUD_REPORT_STATES = ("passed", "passedWithRiskFactors", "failed", "pending")
CONSENT_STATES = ("given", "revoked", "rescinded")
DOCUMENT_TYPES = ("governmentId", "proofOfAddress", "proofOfIncome", "taxForm",
                  "businessFormation", "other")
DOCUMENT_CATEGORIES = ("driversLicense", "passport", "stateId", "militaryId",
                       "permanentResidentCard", "utilityBill", "bankStatement",
                       "leaseAgreement", "w2", "w9", "articlesOfIncorporation", "other")
PRODUCT_TARGETS = ("personal", "business")
PARTY_STATES = ("active", "inactive", "pending", "locked", "removed")
CHANNEL_STATES = ("approved", "pending", "rejected", "unverified")



# --- field validators ----------------------------------------------------------

_TAX_ID = re.compile(r"^(\d{3}-?\d{2}-?\d{4}|\d{2}-\d{7})$")
_MEDIA_TYPE = re.compile(r"^[\w.+-]+/[\w.+-]+$")

# The patterns are documented (``pattern`` in the OpenAPI document); the
# functions after them check what a pattern cannot. marshmallow runs every
# validator of a field, so a function passes over a value its pattern refused.
_DATE = r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?"
_OFFSET = r"(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])"
DATE = validators.Pattern(f"^{_DATE}$", error="Must be a date in the form YYYY-MM-DD.")
DATE_TIME = validators.Pattern(
    f"^{_DATE}T{_TIME}{_OFFSET}$",
    error="Must be an RFC 3339 date-time such as 2019-07-23T13:27:34.375Z.")
#: A date, or the masked value (``*****``) the service renders without PII access.
_MASKABLE_DATE = validators.Pattern(f"^({_DATE}|\\*{{5}})$",
                                    error="Must be a date in the form YYYY-MM-DD.")
#: A telephone number, or its masked form (``*********5555``).
PHONE = validators.Pattern(
    r"^(\+?[0-9 ().-]{7,24}|\*{5,24}[0-9 ().+-]{0,4})$",
    error="Must be a telephone number such as (555) 555-5555 or +19105550155.")


def calendar_date(value: str) -> None:
    """A date the pattern admits that exists (not 2019-02-30)."""
    if DATE.regex.fullmatch(value):
        try:
            date.fromisoformat(value)
        except ValueError as exc:
            raise ValidationError("Must be a date in the form YYYY-MM-DD.") from exc


def past_date(value: str) -> None:
    """A real date in the past, after 1900."""
    if DATE.regex.fullmatch(value):
        calendar_date(value)
        if not date(1900, 1, 1) <= date.fromisoformat(value) <= date.today():
            raise ValidationError("Must be a date between 1900-01-01 and today.")


def date_time(value: str) -> None:
    """An RFC 3339 date-time the pattern admits that exists."""
    if DATE_TIME.regex.fullmatch(value):
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError as exc:
            raise ValidationError(
                "Must be an RFC 3339 date-time such as 2019-07-23T13:27:34.375Z.") from exc


def phone_number(value: str) -> None:
    """A telephone number the pattern admits, with 7 to 15 digits, not masked."""
    not_masked(value)
    if PHONE.regex.fullmatch(value) and not 7 <= sum(char.isdigit() for char in value) <= 15:
        raise ValidationError("Must be a telephone number such as (555) 555-5555 or "
                              "+19105550155.")


def media_type(value: str) -> None:
    """A media type such as ``application/pdf``."""
    if len(value) > 128 or not _MEDIA_TYPE.match(value):
        raise ValidationError("Must be a media type such as application/pdf.")


def ip_address(value: str) -> None:
    """An IPv4 or IPv6 address."""
    try:
        ipaddress.ip_address(value)
    except ValueError as exc:
        raise ValidationError("Must be an IPv4 or IPv6 address.") from exc


def not_masked(value: str) -> None:
    """Refuse a masked value (``*****``) where there is no stored value to keep."""
    if masking.is_masked(value):
        raise ValidationError("Is masked; send the full value, or the masked value you "
                              "fetched to keep the stored one.")


def _date(**kwargs: Any) -> fields.String:
    return fields.String(validate=[DATE, calendar_date], **kwargs)


def date_time_field(**kwargs: Any) -> fields.String:
    """A request's RFC 3339 date-time, checked to exist (documented ``format: date-time``)."""
    return Timestamp(validate=[DATE_TIME, date_time], **kwargs)


def _birthdate(**kwargs: Any) -> fields.String:
    return fields.String(validate=[_MASKABLE_DATE, not_masked, past_date], **kwargs)


def _phone(**kwargs: Any) -> fields.String:
    return fields.String(validate=[PHONE, phone_number], **kwargs)


def _one_of(choices: tuple[str, ...], **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.OneOf(choices), **kwargs)


def _text(max_length: int = 255, **kwargs: Any) -> fields.String:
    return fields.String(validate=[validate.Length(max=max_length), not_masked], **kwargs)


def _list(schema: type, max_items: int = 20, **kwargs: Any) -> fields.List:
    return BoundedList(fields.Nested(schema), max_items, **kwargs)


# --- request schemas -----------------------------------------------------------

def _without_nulls(data: Any, partial: Any) -> Any:
    """In a merge patch (a partial load) ``null`` means "remove": nothing to validate."""
    if partial and isinstance(data, dict):
        return {key: value for key, value in data.items() if value is not None}
    return data


class Part(Body):
    """An embedded object: keeps its HAL ``_id``, ``_profile``, ``_links`` and ``_embedded``."""

    _id = fields.String(data_key="_id", validate=_short)
    _profile = fields.String(data_key="_profile", validate=_uri)
    _links = links_field()
    _embedded = EmbeddedField(data_key="_embedded")

    @pre_load
    def _drop_read_only(self, data: Any, partial: Any = None, **_kwargs: Any) -> Any:
        # Overrides Body's hook: here only ``read_only`` is dropped.
        if isinstance(data, dict) and self.read_only:
            data = {key: value for key, value in data.items() if key not in self.read_only}
        return _without_nulls(data, partial)


class IdentificationSchema(Part):
    type = _one_of(IDENTIFICATION_TYPES, required=True)
    value = fields.String(required=True, validate=[validate.Length(min=1, max=64), not_masked])
    expiration = _date()

    @validates_schema
    def _tax_id(self, data: dict, **_kwargs: Any) -> None:
        if data.get("type") == "taxId" and "value" in data and not _TAX_ID.match(data["value"]):
            raise ValidationError("A taxId must be an SSN/ITIN (111-11-1111) or an EIN "
                                  "(12-3456789).", "value")


class EmailAddressSchema(Part):
    value = fields.Email(required=True, validate=[validate.Length(max=254), not_masked])
    type = _one_of(EMAIL_TYPES)
    state = _one_of(CHANNEL_STATES)


class PhoneSchema(Part):
    type = _one_of(PHONE_TYPES)
    number = _phone(required=True)
    state = _one_of(CHANNEL_STATES)


class AddressSchema(Part):
    type = _one_of(ADDRESS_TYPES)
    addressLine1 = _text()
    addressLine2 = _text()
    addressLine3 = _text()
    city = fields.String(validate=_name)
    regionCode = fields.String(validate=validate.Length(min=1, max=3))
    postalCode = fields.String(validate=validate.Length(min=1, max=16))
    countryCode = fields.String(validate=places.country_code)
    state = _one_of(CHANNEL_STATES)

    @validates_schema
    def _regional(self, data: dict, **_kwargs: Any) -> None:
        country = data.get("countryCode")
        errors = {}
        if data.get("regionCode"):
            problem = places.region_problem(data["regionCode"], country)
            if problem:
                errors["regionCode"] = [problem]
        if data.get("postalCode"):
            problem = places.postal_code_problem(data["postalCode"], country)
            if problem:
                errors["postalCode"] = [problem]
        if errors:
            raise ValidationError(errors)


class CitizenshipSchema(Part):
    countryCode = fields.String(required=True, validate=places.country_code)
    state = _one_of(CITIZENSHIP_STATES)


class IdentityVerificationSchema(Part):
    """The identity verification result, recorded by the financial institution."""

    provider = fields.String(validate=_name)
    sessionId = fields.String(validate=_name)
    scoredAt = date_time_field()
    score = _one_of(IDENTITY_SCORES)
    state = _one_of(IDENTITY_STATES, required=True)


class KycAnswersSchema(Part):
    citizen = StrictBoolean()
    permanentResident = StrictBoolean()
    w9Withholdings = StrictBoolean()
    employmentStatus = _one_of(EMPLOYMENT_STATUSES)
    occupation = _one_of(OCCUPATIONS)
    foreignPoliticalFigure = StrictBoolean()
    countryPoliticalFigure = fields.String(validate=_short)
    familyOfPoliticalFigure = StrictBoolean()
    foreignPoliticalFigureCountry = fields.String(validate=places.country_code)
    foreignPoliticalFigureAssociation = _one_of(POLITICAL_ASSOCIATIONS)


class PersonSchema(Part):
    """What contacts and users share: names, identification and ways to reach them."""

    firstName = fields.String(validate=_name)
    middleName = fields.String(validate=_name)
    lastName = fields.String(validate=_name)
    preferredName = fields.String(validate=_name)
    prefix = fields.String(validate=validate.Length(max=32))
    suffix = fields.String(validate=validate.Length(max=32))
    identification = _list(IdentificationSchema, 10)
    emailAddresses = _list(EmailAddressSchema, 10)
    preferredEmailAddressId = fields.String(validate=_short)
    phones = _list(PhoneSchema, 10)
    preferredPhoneId = fields.String(validate=_short)
    addresses = _list(AddressSchema, 10)
    preferredMailingAddressId = fields.String(validate=_short)
    birthdate = _birthdate()
    citizenship = _list(CitizenshipSchema, 5)
    residencyStatus = _one_of(RESIDENCY_STATUSES)
    occupation = _one_of(OCCUPATIONS)
    otherOccupation = fields.String(validate=_name)
    kycAnswers = fields.Nested(KycAnswersSchema)
    identityVerification = fields.Nested(IdentityVerificationSchema)
    state = _one_of(PARTY_STATES)

    @validates_schema
    def _preferred_ids(self, data: dict, **_kwargs: Any) -> None:
        """A preferred address, email or phone must be one of the listed ones."""
        errors = {}
        for key, items in (("preferredEmailAddressId", "emailAddresses"),
                           ("preferredPhoneId", "phones"),
                           ("preferredMailingAddressId", "addresses")):
            if key in data and items in data and data[key] not in {
                    item.get("_id") for item in data[items]}:
                errors[key] = [f"Must be the _id of one of {items}."]
        if errors:
            raise ValidationError(errors)


class EnrollmentContactSchema(PersonSchema):
    """The applicant's contact (a resource of the Contacts API, embedded)."""

    yearsAtAddress = fields.Integer(strict=True, validate=validate.Range(min=0, max=150))
    mailingDifferentAddress = StrictBoolean()
    createdAt = date_time_field()
    updatedAt = date_time_field()


class UserSchema(PersonSchema):
    """The applicant's digital banking user (a resource of the Users API, embedded)."""

    read_only = frozenset({"_error"})
    customerId = fields.String(validate=_short)
    username = fields.String(validate=_name)
    preferredContactMethod = _one_of(CONTACT_METHODS)
    yearsAtAddress = _one_of(YEARS_AT_ADDRESS)
    phoneNumbers = _list(PhoneSchema, 10)


class EnrollmentRoleSchema(Part):
    name = fields.String(validate=validate.Length(min=1, max=64))
    label = fields.String(validate=_name)
    description = fields.String(validate=validate.Length(max=2000))
    createdAt = date_time_field()


class VerificationItemSchema(Part):
    type = _one_of(VERIFICATION_TYPES, required=True)
    state = _one_of(VERIFICATION_STATES, required=True)
    createdAt = date_time_field()


class VerificationSchema(Part):
    """The verifications the institution ran for this applicant."""

    verifications = _list(VerificationItemSchema, 20)


class ApprovalSchema(Part):
    """An approval the institution requires or granted (Approvals API, embedded)."""

    reason = fields.String(validate=validate.Length(max=1000))
    state = fields.String(validate=_short)
    createdAt = date_time_field()
    updatedAt = date_time_field()


class ConsentDocumentRefSchema(Part):
    uri = fields.String(validate=_uri)
    contentType = fields.String(validate=media_type)
    revisionId = fields.String(validate=_short)
    revisedAt = date_time_field()


class EnrollmentConsentSchema(Part):
    """A consent the applicant gives; its ``_id``, ``givenAt`` and ``userId`` are ours."""

    read_only = frozenset({"givenAt", "userId"})
    givenAt = Timestamp(dump_only=True, allow_none=True)
    userId = fields.String(dump_only=True, allow_none=True)
    type = _one_of(CONSENT_TYPES, required=True)
    state = _one_of(CONSENT_STATES, load_default="given")
    document = fields.Nested(ConsentDocumentRefSchema)
    contextUri = fields.String(validate=_uri)


class FraudRiskCategorySchema(Part):
    type = fields.String(required=True, validate=validate.Length(min=1, max=64))
    description = fields.String(validate=validate.Length(max=1000))


class FraudIdentitySchema(Part):
    """The identity data the fraud check was run on (as the provider reports it)."""

    taxId = fields.String(validate=validate.Length(max=32))
    firstName = fields.String(validate=_name)
    lastName = fields.String(validate=_name)
    address1 = fields.String(validate=_name)
    address2 = fields.String(validate=_name)
    city = fields.String(validate=_name)
    region = fields.String(validate=validate.Length(max=3))
    postalCode = fields.String(validate=validate.Length(max=16))
    phone = _phone()
    birthdate = _birthdate()
    email = fields.Email(validate=validate.Length(max=254))
    ipAddress = fields.String(validate=ip_address)


class FraudInputsSchema(Part):
    identity = fields.Nested(FraudIdentitySchema)


class FraudOutputsSchema(Part):
    state = _one_of(FRAUD_REPORT_STATES, required=True)
    fraudRiskCategories = _list(FraudRiskCategorySchema, 50)
    token = fields.String(validate=validate.Length(max=4096))


class FraudReportSchema(Part):
    """The fraud risk report of the applicant (Identity API, embedded)."""

    type = fields.String(validate=_short)
    inputs = fields.Nested(FraudInputsSchema)
    outputs = fields.Nested(FraudOutputsSchema)


class EnrollmentApplicantSchema(Part):
    """One applicant: who they are, their user, role, verifications and consents."""

    read_only = frozenset({"verified"})
    verified = StrictBoolean(dump_only=True)
    username = fields.String(validate=_name)
    contact = fields.Nested(EnrollmentContactSchema, required=True)
    user = fields.Nested(UserSchema)
    role = fields.Nested(EnrollmentRoleSchema)
    verification = fields.Nested(VerificationSchema)
    approvals = _list(ApprovalSchema, 20)
    consents = _list(EnrollmentConsentSchema, 20)
    fraudReport = fields.Nested(FraudReportSchema)
    verificationToken = fields.String(validate=validate.Length(max=4096))


class RequiredDocumentSchema(Part):
    """A document the applicant must provide before the enrollment can be approved."""

    label = fields.String(validate=_name)
    type = _one_of(DOCUMENT_TYPES, required=True)
    productTarget = _one_of(PRODUCT_TARGETS)
    documentUri = fields.String(validate=_uri)
    category = _one_of(DOCUMENT_CATEGORIES)
    requireIfVerified = StrictBoolean(load_default=True)


class EnrollmentDocumentSchema(Part):
    """A document the applicant provided.

    ``type`` and ``category`` (an extension of the reference) say which required
    document it is; a document whose ``uri`` is a requirement's ``documentUri``
    satisfies that requirement too.
    """

    uri = fields.String(required=True, validate=_uri)
    contentType = fields.String(validate=media_type)
    revisionId = fields.String(validate=_short)
    revisedAt = date_time_field()
    type = _one_of(DOCUMENT_TYPES)
    category = _one_of(DOCUMENT_CATEGORIES)
    name = fields.String(validate=_name)


#: Fields of the representation that the server derives: accepted and ignored on input.
ENROLLMENT_READ_ONLY = frozenset({
    "_id", "state", "workflowState", "createdAt", "completedAt", "applicantName",
    "blockers", "_error",
})


class EnrollmentWriteSchema(Body):
    """The body of createEnrollment, updateEnrollment and (merged) patchEnrollment.

    ``_links`` is accepted and ignored: an enrollment's links are the server's.
    """

    read_only = ENROLLMENT_READ_ONLY | {"_links"}

    _links = links_field()  # documented (the reference's example has one); ignored
    applicant = fields.Nested(EnrollmentApplicantSchema)
    applicants = _list(EnrollmentApplicantSchema, 10)
    requiredDocuments = _list(RequiredDocumentSchema, 20)
    documents = _list(EnrollmentDocumentSchema, 50)
    approvals = _list(ApprovalSchema, 20)
    flaggedForReview = StrictBoolean()

    #: ``_someone``: without an applicant, a non-empty applicants list.
    member_rules = {"if": {"not": {"required": ["applicant"]}},
                    "then": {"required": ["applicants"],
                             "properties": {"applicants": {"minItems": 1}}}}

    @pre_load
    def _patch_nulls(self, data: Any, partial: Any = None, **_kwargs: Any) -> Any:
        return _without_nulls(data, partial)

    @validates_schema
    def _someone(self, data: dict, partial: Any = None, **_kwargs: Any) -> None:
        if not partial and not data.get("applicant") and not data.get("applicants"):
            raise ValidationError(
                "An enrollment needs an applicant (or a non-empty applicants list).",
                "applicant")


class EnrollmentSchema(EnrollmentWriteSchema):
    """The enrollment representation (documentation of responses)."""

    read_only = frozenset()
    _id = fields.String(data_key="_id")
    _profile = fields.String(data_key="_profile")
    _links = links_field(required=True)
    applicantName = fields.String(allow_none=True)
    workflowState = fields.String()
    state = fields.String(validate=validate.OneOf(tuple(lifecycle.TRANSITIONS)))
    createdAt = Timestamp()
    completedAt = Timestamp(allow_none=True)
    blockers = fields.List(fields.Dict())


class EnrollmentSummarySchema(SummarySchema):
    applicantName = fields.String(allow_none=True)
    username = fields.String(allow_none=True)
    flaggedForReview = StrictBoolean()
    createdAt = Timestamp()
    completedAt = Timestamp(allow_none=True)


class EnrollmentsSchema(CollectionSchema):
    """A page of enrollments."""

    _embedded = embedded_items(EnrollmentSummarySchema, "EnrollmentsEmbedded")


# --- masking -------------------------------------------------------------------

def _mask_person(person: dict[str, Any]) -> None:
    for item in person.get("identification") or []:
        item["value"] = masking.mask(item.get("value"))
    for key in ("phones", "phoneNumbers"):
        for item in person.get(key) or []:
            item["number"] = masking.mask(item.get("number"))
    for item in person.get("emailAddresses") or []:
        item["value"] = masking.mask_email(item.get("value"))
    for item in person.get("addresses") or []:
        for line in ("addressLine1", "addressLine2", "addressLine3", "postalCode"):
            if item.get(line):
                item[line] = masking.REDACTED
    if person.get("birthdate"):
        person["birthdate"] = masking.REDACTED


def mask_applicant(applicant: dict[str, Any]) -> None:
    """Hide tax ids, phone numbers, email and postal addresses and birthdates, in place."""
    for key in ("contact", "user"):
        if isinstance(applicant.get(key), dict):
            _mask_person(applicant[key])
    identity = ((applicant.get("fraudReport") or {}).get("inputs") or {}).get("identity")
    if isinstance(identity, dict):
        if identity.get("taxId"):
            identity["taxId"] = masking.mask(identity["taxId"])
        if identity.get("phone"):
            identity["phone"] = masking.mask(identity["phone"])
        if identity.get("email"):
            identity["email"] = masking.mask_email(identity["email"])
        for key in ("address1", "address2", "postalCode", "birthdate", "ipAddress"):
            if identity.get(key):
                identity[key] = masking.REDACTED


def snapshot_view(snapshot: dict[str, Any], pii: bool) -> dict[str, Any]:
    """A decision's snapshot of an enrollment (in its audit record), masked as the
    enrollment itself is for a reader without ``profiles/readPii``."""
    if pii:
        return snapshot
    shown = jsoncodec.copy_document(snapshot)
    applicant = shown.get("applicant")
    for item in ([applicant] if applicant else []) + (shown.get("applicants") or []):
        mask_applicant(item)
    return shown


# --- renderers -----------------------------------------------------------------

def render_enrollment(row: Any, principal: Principal, kind: lifecycle.Kind) -> dict[str, Any]:
    """The full HAL representation of an enrollment, as ``principal`` may see it."""
    doc = jsoncodec.copy_document(row.document)
    applicant = doc.get("applicant")
    applicants = doc.get("applicants") or []
    if not policy.may_read_pii(principal):
        for item in ([applicant] if applicant else []) + applicants:
            mask_applicant(item)
    contact_href = None
    if applicant:
        link = ((applicant.get("contact") or {}).get("_links") or {}).get("self") or {}
        contact_href = link.get("href")
        if contact_href and contact_href.startswith("/"):
            contact_href = hal.platform_url() + contact_href  # every href we emit is absolute
    body: dict[str, Any] = {
        "_id": row.id,
        "_profile": hal.profile("enrollment"),
        "applicantName": row.applicant_name,
        "workflowState": row.workflow_state,
        "state": row.state,
        "flaggedForReview": bool(row.flagged_for_review),
        "createdAt": timestamp(row.created_at),
        "completedAt": timestamp(row.completed_at),
    }
    if applicant:
        body["applicant"] = applicant
    body["applicants"] = applicants
    body["requiredDocuments"] = doc.get("requiredDocuments") or []
    body["documents"] = doc.get("documents") or []
    body["approvals"] = doc.get("approvals") or []
    # What still stands between this enrollment and approval (empty once complete).
    body["blockers"] = kind.blockers(row) if row.state in lifecycle.INCOMPLETE_STATES else []
    body["_links"] = {
        **hal.links(
            self=hal.api_url(f"/enrollments/{row.id}"),
            apiture_applicant=contact_href,
            apiture_auditTrail=audit_trail_href("/enrollments/{id}", row.id, principal),
            apiture_record=record_href("/enrollments/{id}", row, principal),
        ),
        **action_links(kind, row, principal),
    }
    return body


def render_summary(row: Any) -> dict[str, Any]:
    """A collection item: id, profile, self link, state and the name fields."""
    return {
        "_id": row.id,
        "_profile": hal.profile("enrollmentSummary"),
        "name": row.applicant_name,
        "applicantName": row.applicant_name,
        "username": row.username,
        "state": row.state,
        "flaggedForReview": bool(row.flagged_for_review),
        "createdAt": timestamp(row.created_at),
        "completedAt": timestamp(row.completed_at),
        "_links": {"self": {"href": hal.api_url(f"/enrollments/{row.id}")}},
    }


# --- loading a written document ------------------------------------------------

def masked_view(stored: Mapping[str, Any]) -> dict[str, Any]:
    """``stored`` as the representation shows it to a reader without profiles/readPii."""
    shown = jsoncodec.copy_document(stored)
    # The same applicants, masked by the same function, as ``render_enrollment``.
    applicant = shown.get("applicant")
    for item in ([applicant] if applicant else []) + (shown.get("applicants") or []):
        mask_applicant(item)
    return shown


def load_write(incoming: Any, stored: Mapping[str, Any]) -> dict[str, Any]:
    """The document a PUT or PATCH writes (the body, or the body merged into the
    stored one), validated: ``400 invalidFields`` naming each bad field.

    A value sent back exactly as :func:`masked_view` shows it stands for the
    stored one (:func:`validators.restore_masked`).
    """
    if isinstance(incoming, dict):
        validators.restore_masked(incoming, stored, masked_view(stored))
    try:
        return EnrollmentWriteSchema().load(incoming)
    except ValidationError as exc:
        raise validation_error(flatten_messages(exc.messages), 400) from exc
