"""Liveness and readiness probes: no credentials, and readiness checks the database."""

from __future__ import annotations

import pytest
from conftest import BASE

from accountapps import create_app
from accountapps.auth.security import UNAUTHENTICATED
from accountapps.storage import db
from accountapps.storage.models import SchemaVersion


def test_liveness_needs_no_credentials(client):
    response = client.get(f"{BASE}/health/live")
    assert response.status_code == 200
    assert response.json == {"status": "pass"}
    assert response.headers["Cache-Control"] == "no-store"


def test_only_the_health_probes_and_published_documents_need_no_credentials(app):
    unauthenticated = sorted(
        rule.rule for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "required_scope", None) == UNAUTHENTICATED)
    # The published documents (docs/openapi.md): the docs page, the JSON Schemas
    # and the error-type catalogue.
    documents = [rule for rule in unauthenticated
                 if rule.startswith((f"{BASE}/docs", f"{BASE}/schemas/", f"{BASE}/errors"))]
    assert sorted(set(unauthenticated) - set(documents)) == [
        f"{BASE}/health/live", f"{BASE}/health/ready"]


def test_readiness_reports_database_and_schema_version(client):
    response = client.get(f"{BASE}/health/ready")
    assert response.status_code == 200, response.json
    checks = response.json["checks"]
    assert checks["database"] == "pass"
    assert checks["migrations"] == "pass"
    assert checks["schemaVersion"] == checks["requiredSchemaVersion"] >= 1


def test_readiness_is_503_when_migrations_are_pending(app, client):
    with app.app_context(), db.database.connection_context():
        SchemaVersion.delete().where(
            SchemaVersion.version == SchemaVersion.select(
                SchemaVersion.version).order_by(SchemaVersion.version.desc()).limit(1)
        ).execute()
    response = client.get(f"{BASE}/health/ready")
    assert response.status_code == 503
    assert response.json["_error"]["type"] == "notReady"
    assert response.json["_error"]["attributes"]["migrations"] == "fail"
    assert response.headers["Retry-After"]


@pytest.fixture
def unreachable_app(app_settings, database_url, tmp_path):
    """An app whose database cannot be opened (migrations skipped at start-up)."""
    # Nothing listens on port 1; an SQLite "file" that is a directory cannot be opened.
    url = ("postgresql://nobody:nothing@127.0.0.1:1/none" if database_url.startswith(
        "postgres") else f"sqlite:///{tmp_path}")
    settings = {**app_settings, "ACCOUNTAPPS_DATABASE_URL": url,
                "ACCOUNTAPPS_AUTO_MIGRATE": False}
    application = create_app(settings)
    application.config["TESTING"] = True
    return application


def test_readiness_is_503_when_the_database_is_down(unreachable_app):
    response = unreachable_app.test_client().get(f"{BASE}/health/ready")
    assert response.status_code == 503
    assert response.json["_error"]["statusCode"] == 503


def test_liveness_does_not_depend_on_the_database(unreachable_app):
    response = unreachable_app.test_client().get(f"{BASE}/health/live")
    assert response.status_code == 200
