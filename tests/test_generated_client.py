"""A client generated from the committed OpenAPI document works without hand edits.

openapi-python-client (the generator Python users reach for) generates a
client from ``openapi/openapi.yaml``; every module of it imports, and it drives
an application from creation to approval against the service under gunicorn:
create, read with the ETag, patch with If-Match, list, the institution's
identity verification and document review, and the approval.
"""

from __future__ import annotations

import importlib
import pkgutil
import subprocess
import sys
import time

import jwt
import pytest
from live_server import ROOT, RestartableServer

pytestmark = [pytest.mark.slow, pytest.mark.own_database]

PACKAGE = "accountapps_client"
SECRET = "generated-client-secret-" + "0" * 24
KEY = "generated-client-api-key-000000"
CHECKING = ("https://www.example.com/products/products/"
            "8b0c3a52-6f0e-4a3c-9d2f-1c7e5b9a4d10")


def _token(sub: str, scope: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": sub, "scope": scope, "iat": now, "exp": now + 600},
                      SECRET, algorithm="HS256")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """The generated package, importable."""
    pytest.importorskip("openapi_python_client", reason="openapi-python-client is in [test]")
    out = tmp_path_factory.mktemp("client")
    config = out / "config.yaml"
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    subprocess.run([sys.executable, "-m", "openapi_python_client", "generate",
                    "--path", str(ROOT / "openapi" / "openapi.yaml"), "--meta", "none",
                    "--config", str(config), "--output-path", str(out / PACKAGE)],
                   check=True, capture_output=True, text=True, cwd=out)
    sys.path.insert(0, str(out))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(out))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    work = tmp_path_factory.mktemp("server")
    settings = {"ACCOUNTAPPS_DATABASE_URL": f"sqlite:///{work}/client.db",
                "ACCOUNTAPPS_JWT_SECRET": SECRET, "ACCOUNTAPPS_API_KEYS": KEY}
    live = RestartableServer(settings, workers=2, threads=2, log_dir=work).start()
    yield live
    live.stop()


def test_every_module_of_the_generated_client_imports(generated):
    for module in pkgutil.walk_packages(generated.__path__, f"{PACKAGE}."):
        importlib.import_module(module.name)


def test_the_generated_client_takes_an_application_to_approval(generated, server):
    api = importlib.import_module(f"{PACKAGE}.api.applications")
    workflow = importlib.import_module(f"{PACKAGE}.api.workflow")
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in ("create_application", "get_application", "patch_application",
                 "get_applications", "approve_application"):
        importlib.import_module(f"{api.__name__}.{name}")
    for name in ("record_identity_verification", "review_document"):
        importlib.import_module(f"{workflow.__name__}.{name}")
    client_module = importlib.import_module(f"{PACKAGE}.client")
    base = f"{server.url}/accountApplications"

    def as_(sub: str, scope: str):
        return client_module.AuthenticatedClient(
            base_url=base, token=_token(sub, scope), headers={"API-Key": KEY})

    user, bank = as_("ingrid", "banking/full"), as_("officer-9", "banking/full admin/full")
    body = models.ApplicationCreate.from_dict({
        "_links": {"apiture:product": {"href": CHECKING}},
        "applicants": [{"username": "ingrid", "contact": {"firstName": "Ingrid",
                                                          "lastName": "Berg"}}]})
    created = api.create_application.sync_detailed(client=user, body=body)
    assert created.status_code == 201, created.content
    app_id = created.parsed.field_id
    read = api.get_application.sync_detailed(app_id, client=user)
    assert read.status_code == 200 and read.parsed.state == "running"
    patched = api.patch_application.sync_detailed(
        app_id, client=user, if_match=read.headers["ETag"],
        body=models.ApplicationUpdatePatch.from_dict({
            "fundingAccount": {"routingNumber": "021000021",
                               "accountNumbers": {"full": "9876543210"}},
            "fundingAmount": {"value": "250.00", "currency": "USD"},
            "consents": [{"type": "productTermsAndConditions"}, {"type": "electronicConsent"},
                         {"type": "privacyPolicy"}],
            "documents": [{"type": "governmentId", "uri": "https://files.example.com/i.pdf"}]}))
    assert patched.status_code == 200, patched.content
    assert patched.parsed.state == "blocked"
    listed = api.get_applications.sync_detailed(client=user, state="blocked")
    assert [item.field_id for item in listed.parsed.field_embedded.items] == [app_id]
    seen = api.get_application.sync_detailed(app_id, client=bank).parsed
    verified = workflow.record_identity_verification.sync_detailed(
        app_id, client=bank, body=models.IdentityVerificationResult.from_dict(
            {"applicant": seen.applicants[0].field_id, "result": "verified"}))
    assert verified.status_code == 200, verified.content
    reviewed = workflow.review_document.sync_detailed(
        app_id, client=bank, body=models.DocumentReview.from_dict(
            {"document": seen.documents[0].field_id, "decision": "accepted"}))
    assert reviewed.status_code == 200 and reviewed.parsed.state == "running"
    approved = api.approve_application.sync_detailed(client=bank, application=app_id)
    assert approved.status_code == 200, approved.content
    assert approved.parsed.state == "approved"
