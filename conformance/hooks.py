"""schemathesis hooks of conformance/run.sh: each create is made by a new customer.

A customer may have one application and one enrollment in progress (a second
create is ``409``), so with one token every create after the first is refused
and the stateful phase never follows the links from a new resource to its get,
update and actions. Here every ``createApplication``/``createEnrollment`` is
sent with a token for a fresh subject; every other request uses the
administrator's token, which may read, change and act on any resource.

Loaded by run.sh (``SCHEMATHESIS_HOOKS``) only: it mints tokens with the
service's development secret, which a deployment does not share (there, pass
your IdP's token with ``-H Authorization``; docs in docs/openapi.md).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import schemathesis

from accountapps.auth.security import mint_token

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
