"""Liveness and readiness probes for load balancers and orchestrators.

Both need no credentials (a probe has none) and reveal nothing but pass/fail
and the schema versions.

* ``GET /health/live``: the worker process answers. It deliberately does not
  touch the database: when PostgreSQL is down every host would fail liveness
  at once and be restarted in a loop, which cures nothing. Hung workers are
  gunicorn's ``timeout`` to kill.
* ``GET /health/ready``: this host can serve traffic now: the database answers
  ``SELECT 1`` and its schema is at least at the version this code needs
  (``flask --app wsgi db upgrade`` has run). Otherwise ``503`` (an
  ``errorResponse`` naming the failed checks), so the load balancer stops
  sending requests here until it recovers.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from peewee import DatabaseError, InterfaceError, fn

from accountapps.auth.security import UNAUTHENTICATED, requires
from accountapps.representations.common import ErrorResponseSchema
from accountapps.storage import migrations
from accountapps.storage.db import database, without_database
from accountapps.storage.models import SchemaVersion
from accountapps.web import hal
from accountapps.web.bodies import Blueprint
from accountapps.web.errors import ApiError

blp = Blueprint("health", __name__, url_prefix=f"{hal.BASE_PATH}/health",
                description="Liveness and readiness probes (no credentials).")

_NO_STORE = {"Cache-Control": "no-store"}


def _json(body: dict[str, Any]) -> Response:
    return Response(hal.dumps(body), status=200, headers=_NO_STORE,
                    mimetype="application/json")


@blp.route("/live", methods=["GET"])
@blp.response(200)
@without_database
@requires(UNAUTHENTICATED)
def live() -> Response:
    """The process is up and answering requests (no database check)."""
    return _json({"status": "pass"})


def schema_check() -> dict[str, Any]:
    """``SELECT 1`` and the applied schema version against the one this code needs."""
    database.execute_sql("SELECT 1").fetchone()
    required = migrations.latest_version()
    applied = 0
    if database.table_exists(SchemaVersion._meta.table_name):
        applied = SchemaVersion.select(fn.MAX(SchemaVersion.version)).scalar() or 0
    return {"database": "pass", "schemaVersion": applied, "requiredSchemaVersion": required}


@blp.route("/ready", methods=["GET"])
@blp.response(200)
@blp.alt_response(503, schema=ErrorResponseSchema)
@requires(UNAUTHENTICATED)
def ready() -> Response:
    """The database answers and its schema is current: send traffic here."""
    try:
        checks = schema_check()
    except (DatabaseError, InterfaceError) as exc:
        raise ApiError(
            503, "notReady", "The database does not answer.",
            attributes={"database": "fail"}, remediation="Retry later.",
            headers={"Retry-After": "5"},
        ) from exc
    if checks["schemaVersion"] < checks["requiredSchemaVersion"]:
        raise ApiError(
            503, "notReady", "The database schema is older than this release needs.",
            attributes={**checks, "migrations": "fail"},
            remediation="Run `flask --app wsgi db upgrade`.", headers={"Retry-After": "5"},
        )
    return _json({"status": "pass", "checks": {**checks, "migrations": "pass"}})
