"""peewee models.

Columns hold what the database must query, sort, index or guard (names, state,
owner, timestamps, the revision that backs ETags and compare-and-set); the rest
of a resource's document is one JSON text column, read and written whole.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from peewee import (
    SQL,
    AutoField,
    BigAutoField,
    BigIntegerField,
    BlobField,
    BooleanField,
    CharField,
    CompositeKey,
    DateTimeField,
    IntegerField,
    Model,
    TextField,
)

from accountapps.storage import jsoncodec
from accountapps.storage.db import database

#: States in which an application or enrollment is still in progress.
ACTIVE_STATES = ("pending", "running", "blocked")


def utcnow() -> datetime:
    """The current time, UTC, without tzinfo (how timestamps are stored)."""
    return datetime.now(UTC).replace(tzinfo=None)


def timestamp(moment: datetime | None) -> str | None:
    """RFC 3339 UTC with milliseconds, e.g. ``2018-12-13T11:01:41.375Z``."""
    if moment is None:
        return None
    # isoformat rather than strftime: a page renders hundreds of these.
    return moment.isoformat(timespec="milliseconds") + "Z"


class JSONField(TextField):
    """A JSON document stored as text (portable across SQLite and PostgreSQL)."""

    def db_value(self, value: Any) -> str | None:
        return None if value is None else jsoncodec.dumps(value, strict=True)

    def python_value(self, value: str | None) -> Any:
        return None if value is None else jsoncodec.loads(value)


class BaseModel(Model):
    class Meta:
        database = database
        legacy_table_names = False


class Application(BaseModel):
    """An account application."""

    id = CharField(primary_key=True, max_length=36)
    owner = CharField(max_length=255)  # the user id (token ``sub``) that created it
    client_id = CharField(max_length=255, null=True)
    product_id = CharField(max_length=64)
    account_name = CharField(max_length=255, null=True)
    applicant_name = CharField(max_length=255, null=True)
    product_name = CharField(max_length=255, null=True)
    organization_name = CharField(max_length=255, null=True)
    state = CharField(max_length=16)
    workflow_state = CharField(max_length=32)
    created_at = DateTimeField()
    completed_at = DateTimeField(null=True)
    #: last activity; expiry counts from here
    active_at = DateTimeField()
    revision = IntegerField(default=1)
    document = JSONField()

    class Meta:
        indexes = (
            # A user's pages, newest first; with the state in the index, a page
            # or count filtered by state reads no table row it does not return
            # (one index for both: a user has few applications to walk).
            (("owner", "created_at", "state"), False),
            (("state", "active_at"), False),  # the expiry sweep's range
            (("state", "created_at"), False),  # work queues: a state, newest first
            (("created_at", "id"), False),
            (("account_name",), False),
            (("applicant_name",), False),
            (("product_name",), False),
            (("organization_name",), False),
            (("completed_at",), False),
        )


# One application in progress per user, guarded by the database itself so that
# two racing creates from two workers cannot both succeed.
Application.add_index(
    Application.index(
        Application.owner, unique=True, where=Application.state.in_(ACTIVE_STATES),
        name="application_one_active_per_owner",
    )
)


class ApplicationApplicant(BaseModel):
    """The contact URIs among an application's applicants (for ``?applicant=``)."""

    id = AutoField()
    application_id = CharField(max_length=36, index=True)
    contact_uri = CharField(max_length=1024, index=True)


class AuditRecord(BaseModel):
    """One state change of an application or enrollment. Append-only."""

    id = AutoField()
    resource_type = CharField(max_length=16)  # "application" | "enrollment"
    resource_id = CharField(max_length=36)
    occurred_at = DateTimeField()
    user_id = CharField(max_length=255, null=True)  # None: the service itself
    client_id = CharField(max_length=255, null=True)
    from_state = CharField(max_length=16, null=True)
    to_state = CharField(max_length=16)
    reason = TextField(null=True)
    #: a decision's record (approved, rejected): what it saw and what it waived
    #: (``{"snapshot": {...}, "waived": [...]}``, added by migration ``m0015``)
    decision = JSONField(null=True)

    class Meta:
        indexes = ((("resource_type", "resource_id", "id"), False),)


class SchemaVersion(BaseModel):
    """Applied migrations."""

    version = IntegerField(primary_key=True)
    name = CharField(max_length=255)
    applied_at = DateTimeField()


class Enrollment(BaseModel):
    """An enrollment in digital banking (created by migration ``m0002``)."""

    id = CharField(primary_key=True, max_length=36)
    owner = CharField(max_length=255)  # the user id (token ``sub``) that created it
    client_id = CharField(max_length=255, null=True)
    applicant_name = CharField(max_length=255, null=True)
    username = CharField(max_length=255, null=True)
    state = CharField(max_length=16)
    workflow_state = CharField(max_length=32)
    flagged_for_review = BooleanField(default=False)
    created_at = DateTimeField()
    completed_at = DateTimeField(null=True)
    #: last activity; expiry counts from here
    active_at = DateTimeField()
    revision = IntegerField(default=1)
    document = JSONField()

    class Meta:
        indexes = (
            (("owner", "created_at"), False),
            (("state", "active_at"), False),
            (("created_at", "id"), False),
            (("applicant_name",), False),
            (("username",), False),
            (("completed_at",), False),
        )


# One enrollment in progress per user, guarded by the database (as for applications).
Enrollment.add_index(
    Enrollment.index(
        Enrollment.owner, unique=True, where=Enrollment.state.in_(ACTIVE_STATES),
        name="enrollment_one_active_per_owner",
    )
)


#: Every table, in creation order.
ALL_MODELS: list[type[BaseModel]] = [
    Application,
    ApplicationApplicant,
    AuditRecord,
    Enrollment,
]


class ApiKey(BaseModel):
    """An issued ``API-Key``: only its SHA-256 is stored, the key is shown once."""

    id = AutoField()
    client = CharField(max_length=255)  # the client application's name
    key_hash = CharField(max_length=64, unique=True)
    prefix = CharField(max_length=12)  # first characters, to recognise a key in a list
    created_at = DateTimeField()
    revoked_at = DateTimeField(null=True)


ALL_MODELS.append(ApiKey)  # created by migration m0003


class ReviewFlag(BaseModel):
    """A user's review flag as their most recently created deleted enrollment left it.

    Deleting an enrollment must not clear ``flaggedForReview``: the user's next
    enrollment inherits the flag of their latest enrollment, deleted or not
    (created by migration ``m0015``).
    """

    owner = CharField(primary_key=True, max_length=255)
    flagged = BooleanField()
    enrollment_id = CharField(max_length=36)
    enrollment_created_at = DateTimeField()
    recorded_at = DateTimeField()


ALL_MODELS.append(ReviewFlag)


class IdempotencyKey(BaseModel):
    """A POST's ``Idempotency-Key`` and the answer it got (created by migration m0014).

    Written in the transaction of the request's effect, so a key has a stored
    answer exactly when its request took effect. The key is the client
    application's and user's own: ``(client_id, user_id, key)`` is unique.
    """

    client_id = CharField(max_length=255)
    user_id = CharField(max_length=255)
    key = CharField(max_length=255)
    # The request it answered: a repeat must be the same request.
    method = CharField(max_length=16)
    path = TextField()
    query_sha256 = CharField(max_length=64)
    body_sha256 = CharField(max_length=64)
    created_at = DateTimeField(index=True)  # pruned from here
    # The answer, replayed as it was (the large values last: a row's other
    # columns are read without its overflow pages).
    status = IntegerField()
    headers = JSONField()  # [[name, value], ...]
    # an LZ4 frame when ``compressed`` (migration m0016): see storage/idempotency.py
    body = BlobField()
    # The database's default too: hosts still on older code insert without it.
    compressed = BooleanField(default=False, constraints=[SQL("DEFAULT FALSE")])

    class Meta:
        table_name = "idempotency_key"
        primary_key = CompositeKey("client_id", "user_id", "key")


ALL_MODELS.append(IdempotencyKey)


class Event(BaseModel):
    """One change of an application or enrollment: the transactional outbox.

    Written in the change's own transaction (migration ``m0013``), so an event
    exists exactly when its change committed. ``seq`` orders the feed: on
    SQLite writers take turns, so its order is the commit order; PostgreSQL
    adds a ``txid`` column (the writing transaction's id, see
    :mod:`accountapps.storage.event_log`). The summary holds states and names,
    never personal data such as tax ids or account numbers.
    """

    #: the newest event is never pruned, so SQLite never hands out a number twice
    seq = BigAutoField()
    id = CharField(max_length=36, unique=True)  # a version 7 UUID: time-ordered
    type = CharField(max_length=64)
    occurred_at = DateTimeField()
    resource_type = CharField(max_length=16)
    resource_id = CharField(max_length=36)
    revision = IntegerField(null=True)  # the resource's new revision; None once deleted
    user_id = CharField(max_length=255, null=True)  # None: the service itself
    client_id = CharField(max_length=255, null=True)
    reason = TextField(null=True)
    summary = JSONField()

    class Meta:
        indexes = ((("resource_id", "seq"), False),)


class WebhookSubscription(BaseModel):
    """A receiver of events: its URL, the event types it wants, its signing secret."""

    id = CharField(primary_key=True, max_length=36)
    url = CharField(max_length=2048)
    events = JSONField()  # event types, "application.*", or ["*"]
    description = CharField(max_length=1000, null=True)
    secret = CharField(max_length=128)  # whsec_<base64>: signs every delivery
    paused = BooleanField(default=False)
    created_by = CharField(max_length=255, null=True)
    created_at = DateTimeField()
    updated_at = DateTimeField()
    revision = IntegerField(default=1)


class WebhookDelivery(BaseModel):
    """One event owed to one subscription, and how its delivery went.

    ``pending`` until a receiver answers 2xx (``delivered``) or retries run out
    (``dead``, a dead letter). A dispatcher that takes a pending delivery moves
    its ``next_attempt_at`` past the lease it holds, so a dispatcher killed
    mid-delivery leaves it due again (at least once).
    """

    id = BigAutoField()
    subscription_id = CharField(max_length=36)
    event_seq = BigIntegerField()
    event_id = CharField(max_length=36)
    event_type = CharField(max_length=64)
    resource_id = CharField(max_length=36)  # deliveries of one resource go in order
    status = CharField(max_length=16, default="pending")
    attempts = IntegerField(default=0)
    created_at = DateTimeField()
    next_attempt_at = DateTimeField()
    first_attempt_at = DateTimeField(null=True)
    last_attempt_at = DateTimeField(null=True)
    delivered_at = DateTimeField(null=True)
    response_status = IntegerField(null=True)
    error = TextField(null=True)
    claim = CharField(max_length=32, null=True)  # the dispatcher's token while it holds it

    class Meta:
        indexes = (
            (("subscription_id", "id"), False),
            (("event_seq",), False),
        )


# Due deliveries, and the one ahead of each in its resource's order: both only
# among the pending ones, which is few rows however long the history.
WebhookDelivery.add_index(WebhookDelivery.index(
    WebhookDelivery.next_attempt_at, where=WebhookDelivery.status == "pending",
    name="webhook_delivery_due"))
WebhookDelivery.add_index(WebhookDelivery.index(
    WebhookDelivery.subscription_id, WebhookDelivery.resource_id, WebhookDelivery.id,
    where=WebhookDelivery.status == "pending", name="webhook_delivery_resource_order"))


class EventFanout(BaseModel):
    """How far the dispatchers have turned events into deliveries (one row, ``id`` 1)."""

    id = IntegerField(primary_key=True)
    seq = BigIntegerField(default=0)
    txid = CharField(max_length=24, default="0")  # PostgreSQL: the position's transaction


EVENT_MODELS: list[type[BaseModel]] = [Event, WebhookSubscription, WebhookDelivery, EventFanout]
