"""schemathesis hooks of conformance/run.sh: each create is made by a new customer, and
references name resources that exist.

A customer may have one application and one enrollment in progress (a second
create is ``409``), so with one token every create after the first is refused
and the stateful phase never follows the links from a new resource to its get,
update and actions. Here every ``createApplication``/``createEnrollment`` is
sent with a token for a fresh subject; every other request uses the
administrator's token, which may read, change and act on any resource.

What no schema can say, that an id refers to an existing resource, comes from
conformance/seed.py (run.sh creates a few applications and enrollments before the
run and names the file in ``CONFORMANCE_SEED``): the positive cases of the
actions (``?application=``, ``?enrollment=``), of the institution's document
reviews and identity verifications (the application in the path, its document or
applicant in the body) name those; a webhook receiver is a loopback URL (run.sh
lets the service subscribe private addresses; no dispatcher runs, so nothing is
delivered). Without the file (a run against a deployment) cases stay as generated.
Negative cases and the stateful phase (whose ids come from the links) are left
alone.

Loaded by run.sh (``SCHEMATHESIS_HOOKS``) only: it mints tokens with the
service's development secret, which a deployment does not share (there, pass
your IdP's token with ``-H Authorization``; docs in docs/openapi.md).
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

from accountapps.auth.security import mint_token
from conformance.seed import OPERATIONS, PRODUCT

SCOPES = "banking/full admin/full profiles/full"
CREATES = {"POST /applications", "POST /enrollments"}


@schemathesis.auth(refresh_interval=None)
class FreshCustomerPerCreate:
    """A bearer token per request: a new subject for creates, the administrator otherwise."""

    def get(self, case: Any, ctx: Any) -> str:
        subject = "conformance-admin"
        if f"{case.operation.method.upper()} {case.operation.path}" in CREATES:
            subject = f"conformance-{uuid.uuid4()}"
        return mint_token(subject, SCOPES, secret=os.environ["ACCOUNTAPPS_JWT_SECRET"],
                          expires_in=7200)

    def set(self, case: Any, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _seed() -> dict[str, Any] | None:
    path = os.environ.get("CONFORMANCE_SEED")
    if not path:
        return None
    with open(path, encoding="utf-8") as file:
        return json.load(file)


SEED = _seed()


def _target(param: str) -> Callable[[Any, dict[str, Any]], None]:
    """An action's ``?{param}=``: an existing application or enrollment."""
    def fill(case: Any, resource: dict[str, Any]) -> None:
        case.query = {**(case.query or {}), param: resource["id"]}
    return fill


def _institution_input(member: str, items: str) -> Callable[[Any, dict[str, Any]], None]:
    """The application in the path, and one of its ``items`` as the body's ``member``."""
    def fill(case: Any, resource: dict[str, Any]) -> None:
        case.path_parameters = {**(case.path_parameters or {}), "applicationId": resource["id"]}
        if isinstance(case.body, dict):
            case.body = {**case.body, member: resource[items][0]}
    return fill


#: How a case of each operation of conformance.seed.OPERATIONS names its resource.
FILL: dict[str, Callable[[Any, dict[str, Any]], None]] = {
    **{label: _target("application" if kind == "applications" else "enrollment")
       for label, kind in OPERATIONS.items() if "{" not in label},
    "POST /applications/{applicationId}/documentReviews":
        _institution_input("document", "documents"),
    "POST /applications/{applicationId}/identityVerifications":
        _institution_input("applicant", "applicants"),
}

#: Operations whose body names a webhook receiver.
RECEIVERS = {"POST /webhookSubscriptions", "PATCH /webhookSubscriptions/{webhookSubscriptionId}"}


def _positive(case: Any) -> bool:
    return case.meta is not None and case.meta.generation.mode == GenerationMode.POSITIVE


def _label(case: Any) -> str:
    return f"{case.operation.method.upper()} {case.operation.path}"


def _adjusted(case: Any, resource: int, receiver: int) -> Any:
    """``case`` naming the ``resource``-th seeded resource, the ``receiver``-th loopback
    receiver and a new Idempotency-Key, where it names such things."""
    stateful = case.meta.phase.name == "stateful"  # the links give ids and ETags
    label = _label(case)
    if label in FILL and not stateful:
        resources = SEED[label]  # type: ignore[index]
        FILL[label](case, resources[resource % len(resources)])
    if case.headers and not stateful and case.headers.get("If-Match", "*") != "*":
        # Generated without the resource's ETag, it cannot match it (412): any version.
        case.headers["If-Match"] = "*"
    if label == "POST /applications" and isinstance(case.body, dict):
        # A product of the catalog (any other is 422).
        links = case.body.get("_links") if isinstance(case.body.get("_links"), dict) else {}
        case.body = {**case.body, "_links": {**links, "apiture:product": {"href": PRODUCT}}}
    if label in RECEIVERS and isinstance(case.body, dict) and "url" in case.body:
        case.body = {**case.body, "url": f"https://127.0.0.1:9/conformance/{receiver}"}
    if case.headers and "Idempotency-Key" in case.headers:
        # A key is made up for one request: another request with it is 422.
        # Drawn here, not by hypothesis: its draws repeat from one operation to the next.
        case.headers["Idempotency-Key"] = str(uuid.uuid4())
    return case


@schemathesis.hook
def flatmap_case(context: Any, case: Any) -> Any:
    """Positive generated cases, adjusted (see the module docstring)."""
    if SEED is None or not _positive(case):
        return st.just(case)
    return st.builds(_adjusted, st.just(case), st.integers(0, 99), st.integers(1, 9999))


@schemathesis.hook
def before_add_examples(context: Any, examples: list[Any]) -> None:
    """The cases made of the document's examples, adjusted alike (the example receiver,
    ``hooks.bank.example``, resolves nowhere)."""
    if SEED is None:
        return
    for number, case in enumerate(examples):
        if _positive(case):
            _adjusted(case, number, number)
