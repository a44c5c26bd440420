"""Liveness and readiness probes for load balancers and orchestrators.

Both need no credentials (a probe has none), reveal nothing but pass/fail
and the schema versions, are never rate-limited (a caller spending its
address's budget, behind a load balancer the balancer's address, must not make
the balancer's probes fail) and answer on any ``Host`` (balancers and
orchestrators probe an instance by its address; :func:`accountapps.web.http.probe`).

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

from accountapps.auth.security import UNAUTHENTICATED, requires
from accountapps.domain.errors import ApiError
from accountapps.representations.common import ErrorResponseSchema
from accountapps.storage import migrations
from accountapps.web import hal
from accountapps.web.bodies import Blueprint
from accountapps.web.connections import without_database
from accountapps.web.http import probe

blp = Blueprint("health", __name__, url_prefix=f"{hal.BASE_PATH}/health",
                description="Liveness and readiness probes (no credentials).")

_NO_STORE = {"Cache-Control": "no-store"}


def _json(body: dict[str, Any]) -> Response:
    return Response(hal.dumps(body), status=200, headers=_NO_STORE,
                    mimetype="application/json")


@blp.route("/live", methods=["GET"])
@blp.response(200)
@without_database
@probe
@requires(UNAUTHENTICATED)
def live() -> Response:
    """The process is up and answering requests (no database check)."""
    return _json({"status": "pass"})


@blp.route("/ready", methods=["GET"])
@blp.response(200)
@blp.alt_response(503, schema=ErrorResponseSchema)
@probe
@requires(UNAUTHENTICATED)
def ready() -> Response:
    """The database answers and its schema is current: send traffic here."""
    checks = migrations.readiness()
    if checks is None:
        raise _not_ready("The database does not answer.", {"database": "fail"},
                         "Retry later.")
    if checks["schemaVersion"] < checks["requiredSchemaVersion"]:
        raise _not_ready("The database schema is older than this release needs.",
                         {**checks, "migrations": "fail"},
                         "Run `flask --app wsgi db upgrade`.")
    return _json({"status": "pass", "checks": {**checks, "migrations": "pass"}})


def _not_ready(message: str, attributes: dict[str, Any], remediation: str) -> ApiError:
    return ApiError(503, "notReady", message, attributes=attributes,
                    remediation=remediation, headers={"Retry-After": "5"})
