"""The service's operations, discovered from its URL map (for the security tests).

Each operation is classified by the :class:`~accountapps.domain.lifecycle.Kind` it
belongs to: a collection, a create, an item (a path naming one resource) or an
action collection. New resources and operations are picked up automatically.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass

from conftest import SECRET

from accountapps import create_app
from accountapps.auth.security import PUBLIC, UNAUTHENTICATED
from accountapps.domain.lifecycle import Kind


def kinds() -> list[Kind]:
    """Every resource kind the service defines (applications, enrollments, ...)."""
    found: dict[str, Kind] = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("accountapps.") and module is not None:
            for value in vars(module).values():
                if isinstance(value, Kind):
                    found[value.name] = value
    return list(found.values())


@dataclass(frozen=True)
class Operation:
    method: str
    rule: str
    endpoint: str
    scope: str | None
    #: "probe" | "public" | "catalog" | "collection" | "create" | "item" | "action"
    #: | "institution"
    role: str
    kind: Kind | None
    arguments: tuple[str, ...]

    @property
    def id(self) -> str:
        return f"{self.method} {self.rule}"


#: Where the product catalog is: its operations name products, not a Kind's resources.
CATALOG = "/accountApplications/products"
#: Operations of the institution's own (no Kind): the event feed and the webhooks.
INSTITUTION_PATHS = ("/accountApplications/events", "/accountApplications/webhookSubscriptions")


def classify(app, method: str, rule) -> Operation:
    view = app.view_functions[rule.endpoint]
    scope = getattr(view, "required_scope", None)
    path = rule.rule
    args = tuple(sorted(rule.arguments))
    if scope == UNAUTHENTICATED:  # health probes: no credentials by design (test_health.py)
        return Operation(method, path, rule.endpoint, scope, "probe", None, args)
    if path == CATALOG or path.startswith(f"{CATALOG}/"):
        # The product catalog: the same for every reader, nobody's own (test_products.py).
        return Operation(method, path, rule.endpoint, scope, "catalog", None, args)
    for kind in kinds():
        base = f"/accountApplications{kind.path}"
        if args and path.startswith(f"{base}/<"):
            return Operation(method, path, rule.endpoint, scope, "item", kind, args)
        collections = {f"/accountApplications{a.collection}" for a in kind.actions.values()}
        if method == "POST" and path in collections:
            return Operation(method, path, rule.endpoint, scope, "action", kind, args)
        if not args and path == base:
            role = "create" if method == "POST" else "collection"
            return Operation(method, path, rule.endpoint, scope, role, kind, args)
    if path.startswith(INSTITUTION_PATHS):
        return Operation(method, path, rule.endpoint, scope, "institution", None, args)
    if scope == PUBLIC:
        return Operation(method, path, rule.endpoint, scope, "public", None, args)
    if method == "GET" and not args:
        # A filtered view of a kind's collection (e.g. /runningApplications).
        kind = next((k for k in kinds() if path.lower().endswith(f"{k.name}s")), None)
        return Operation(method, path, rule.endpoint, scope, "collection", kind, args)
    return Operation(method, path, rule.endpoint, scope, "unknown", None, args)


def discover() -> list[Operation]:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app({"ACCOUNTAPPS_DATABASE_URL": f"sqlite:///{folder}/ops.db",
                          "ACCOUNTAPPS_JWT_SECRET": SECRET, "ACCOUNTAPPS_LOG_LEVEL": "WARNING"})
        ops = []
        for rule in app.url_map.iter_rules():
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                ops.append(classify(app, method, rule))
    return sorted(ops, key=lambda op: (op.rule, op.method))


#: Every operation but the health probes; PROTECTED needs a user token;
#: ON_A_RESOURCE names one resource.
OPERATIONS = [op for op in discover() if op.role != "probe"]
PROTECTED = [op for op in OPERATIONS if op.role != "public"]
ON_A_RESOURCE = [op for op in PROTECTED if op.role in ("item", "action")]
COLLECTIONS = [op for op in PROTECTED if op.role == "collection"]


def ids(ops: list[Operation]) -> list[str]:
    """Test ids: ``METHOD /path``."""
    return [op.id for op in ops]
