"""Resources for conformance/run.sh to act on: what no schema can generate.

    python -m conformance.seed BASE_URL > seed.json

An action names an application or enrollment that exists (``?application=``; an
unknown one is ``400``, as the reference says); a document review names a
document of the application, an identity verification one of its applicants
(else ``422``). Data generated from the schema names none that exist, so every
such request would be refused and schemathesis would rightly report that the
operation "mostly rejected generated data". This module creates, through the
API, a few applications (each with an applicant and a document, by a customer
of its own) and enrollments for each such operation (an action decides what it
acts on: one pool for all would soon hold only canceled applications), and
prints their ids as JSON::

    {"POST /approvedApplications": [{"id": "...", "applicants": ["..."],
                                     "documents": ["..."]}, ...],
     "POST /approvedEnrollments": [{"id": "..."}, ...], ...}

``conformance/hooks.py`` puts them into the positive cases of those operations.
The API key and the token secret are the ones run.sh gives the service.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import urllib3
import yaml

from accountapps.auth.security import mint_token

#: How many resources each operation gets.
COUNT = 4
#: The operations that name an existing resource -> the kind of resource.
OPERATIONS = {
    **{f"POST /{state}Applications": "applications"
       for state in ("approved", "rejected", "canceled", "expired", "running")},
    **{f"POST /{state}Enrollments": "enrollments" for state in ("approved", "rejected")},
    "POST /applications/{applicationId}/documentReviews": "applications",
    "POST /applications/{applicationId}/identityVerifications": "applications",
}
SCOPES = "banking/full admin/full profiles/full"
PRODUCT = "https://www.example.com/products/products/51df9a81-2cb8-4515-aad1-9543b3c4fc18"
DOCUMENT = {"type": "proofOfAddress", "name": "utility-bill.pdf",
            "contentType": "application/pdf", "uri": "https://files.example.com/bill.pdf"}


def application_body(number: int) -> dict[str, Any]:
    """A new application with one applicant and one document to review."""
    return {
        "accountName": f"Conformance {number}",
        "_links": {"apiture:product": {"href": PRODUCT}},
        "applicants": [{"username": f"conformance{number}", "contact": {
            "firstName": "Conformance", "lastName": f"Applicant{number}"}}],
        "documents": [DOCUMENT],
    }


def enrollment_body() -> dict[str, Any]:
    """The document's own createEnrollment example (the reference's example)."""
    document = yaml.safe_load(
        (Path(__file__).resolve().parent.parent / "openapi" / "openapi.yaml").read_text())
    content = document["paths"]["/enrollments"]["post"]["requestBody"]["content"]
    return content["application/json"]["example"]


def create(base_url: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """POST ``body`` to ``path`` as a new customer; the created representation."""
    token = mint_token(f"conformance-seed-{uuid.uuid4()}", SCOPES,
                       secret=os.environ["ACCOUNTAPPS_JWT_SECRET"])
    response = urllib3.request(
        "POST", base_url + path, body=json.dumps(body).encode(), timeout=30,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}",
                 "API-Key": os.environ["ACCOUNTAPPS_API_KEYS"].split(",")[0].strip()})
    if response.status != 201:
        raise SystemExit(f"conformance seed: POST {path} answered {response.status}: "
                         f"{response.data[:500]!r}")
    return response.json()


def new_resource(base_url: str, kind: str, number: int) -> dict[str, Any]:
    """A new application (its id, its applicants' and documents') or enrollment (its id)."""
    if kind == "enrollments":
        return {"id": create(base_url, "/enrollments", enrollment_body())["_id"]}
    created = create(base_url, "/applications", application_body(number))
    return {"id": created["_id"],
            "applicants": [applicant["_id"] for applicant in created["applicants"]],
            "documents": [document["_id"] for document in created["documents"]]}


def seed(base_url: str) -> dict[str, list[dict[str, Any]]]:
    """Create the resources; their ids by operation (see the module docstring)."""
    return {label: [new_resource(base_url, kind, number) for number in range(COUNT)]
            for label, kind in OPERATIONS.items()}


if __name__ == "__main__":
    json.dump(seed(sys.argv[1].rstrip("/")), sys.stdout)
    print()
