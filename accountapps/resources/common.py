"""Helpers every view shares: single-resource responses, action targets, audit trails,
printable records."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from flask import Response, request
from marshmallow import Schema, fields

from accountapps.auth import policy
from accountapps.auth.principal import Principal
from accountapps.auth.security import current_principal, requires
from accountapps.domain import store
from accountapps.domain.errors import ApiError
from accountapps.domain.lifecycle import Action, Kind, transition
from accountapps.representations import record
from accountapps.representations.audit import ActionBodySchema, SnapshotView, render_audit_trail
from accountapps.representations.common import ErrorResponseSchema
from accountapps.web import hal
from accountapps.web.preconditions import (
    RECORD,
    NotModified,
    content_etag,
    etag,
    if_match,
    not_modified,
)

_ID_TEXT = "[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_ID = re.compile(f"^{_ID_TEXT}$")


def resource_response(
    row: Any, principal: Principal, render: Callable[[Any, Principal], Any], *,
    status: int = 200, created: bool = False, variant: str = "",
    respond: Callable[[Any, int, dict[str, str]], Response] = hal.response,
) -> Response:
    """One resource with its ``ETag`` (``304`` for a matching ``If-None-Match`` on GET).

    ``render`` makes the body and ``respond`` the response; another representation
    than hal+json (the PDF record) names its ``variant`` of the tag
    (:func:`~accountapps.web.preconditions.etag`), so each has tags of its own.
    """
    headers = _tag_headers(row, principal, variant)
    if request.method in ("GET", "HEAD") and not_modified(headers["ETag"]):
        return NotModified(headers)
    body = render(row, principal)
    if created:
        headers["Location"] = body["_links"]["self"]["href"]
    return respond(body, status, headers)


def _tag_headers(row: Any, principal: Principal, variant: str) -> dict[str, str]:
    """The ``ETag`` (and ``Vary``) of ``row`` in the view ``principal`` is given."""
    tag = etag(row.id, row.revision, masked=not policy.may_read_pii(principal), variant=variant)
    return {"ETag": tag, "Vary": "Authorization"}


#: ``load(kind, id, principal, head=...)``: the row the caller may read, or ``404``
#: (:func:`store.load_visible`'s signature).
Load = Callable[..., Any]


def read_response(
    kind: Kind, resource_id: str, render: Callable[[Any, Principal], Any], *,
    variant: str = "", respond: Callable[[Any, int, dict[str, str]], Response] = hal.response,
    load: Load = store.load_visible,
) -> Response:
    """``GET`` one resource the caller may read (:func:`resource_response`; ``404`` else).

    With ``If-None-Match``, only the row's head (what its tag needs) is read
    first; a matching tag is answered ``304`` from it, and the row is read whole
    only to render it. An overdue resource expires on either read.
    """
    principal = current_principal()
    if "HTTP_IF_NONE_MATCH" in request.environ:
        head = load(kind, resource_id, principal, head=True)
        headers = _tag_headers(head, principal, variant)
        if not_modified(headers["ETag"]):
            return NotModified(headers)
    row = load(kind, resource_id, principal, head=False)
    return resource_response(row, principal, render, variant=variant, respond=respond)


def versioned_response(version: str, render: Callable[[], dict]) -> Response:
    """A read-only resource whose content has a ``version`` (the catalog's): its strong
    ``ETag``, and ``304`` for a matching ``If-None-Match`` on GET (nothing rendered)."""
    headers = {"ETag": content_etag(version)}
    if request.method in ("GET", "HEAD") and not_modified(headers["ETag"]):
        return NotModified(headers)
    return hal.response(render(), 200, headers)


def target_id(kind: Kind) -> str:
    """The resource an action names in ``?{param}=``: its id or its URI (else ``400``)."""
    raw = (request.args.get(kind.param) or "").strip()
    if not raw:
        raise ApiError(
            400, "missingQueryParameter",
            f"The {kind.param!r} query parameter is required: the {kind.name}'s id or URI.",
            attributes={"name": kind.param},
        )
    candidate = raw
    if "/" in raw:
        try:
            path = urlparse(raw).path.rstrip("/")
        except ValueError:  # http://[::1 and the like: not a URI at all
            path = ""
        prefix = f"{hal.BASE_PATH}{kind.path}/"
        candidate = path[len(prefix):] if path.startswith(prefix) else ""
    if not _ID.match(candidate):
        raise invalid_target(kind, raw)
    return candidate


def target_parameter(kind: Kind) -> dict[str, Any]:
    """The OpenAPI description of the query parameter that :func:`target_id` reads."""
    return {
        "name": kind.param, "in": "query", "required": True,
        "description": f"The {kind.name} to act on: its id or its URI.",
        "schema": {"type": "string", "minLength": 1, "maxLength": 512,
                   "pattern": target_pattern(kind)},
    }


def target_pattern(kind: Kind) -> str:
    """What :func:`target_id` takes, as an ECMAScript pattern: an id, or a URI (or path)
    whose path is the resource's (trailing slashes, a query or a fragment aside)."""
    return (f"^({_ID_TEXT}|([A-Za-z][A-Za-z0-9+.-]*:)?(//[^/?#]*)?"
            f"{hal.BASE_PATH}{kind.path}/{_ID_TEXT}/*([?#].*)?)$")


def invalid_target(kind: Kind, raw: str) -> ApiError:
    """``400``: the action names no (visible) resource."""
    return ApiError(
        400, f"invalid{kind.name.capitalize()}",
        f"{raw[:200]!r} does not identify one of your {kind.name}s.",
        attributes={"name": kind.param, "value": raw[:200]},
        remediation=f"Use the href of the {kind.name}'s action link.",
    )


def load_target(kind: Kind, principal: Principal) -> Callable[[str], Any]:
    """A loader for actions: unknown or invisible resources are ``400``, not ``404``."""

    def load(resource_id: str) -> Any:
        try:
            return store.load_visible(kind, resource_id, principal)
        except ApiError as exc:
            if exc.status == 404:
                raise invalid_target(kind, resource_id) from exc
            raise

    return load


#: The optional body of every action, parsed by ``@blp.arguments(ACTION_BODY, required=False)``
#: (an instance: see ``COLLECTION_ARGS`` in resources/applications.py).
ACTION_BODY = ActionBodySchema()


def perform_action(kind: Kind, target: str, render: Callable[[Any, Principal], dict],
                   body: dict[str, Any]) -> Response:
    """``POST /{action collection}?{param}=...``: move the named resource to ``target``.

    ``If-Match`` is optional but honoured; ``body`` (:data:`ACTION_BODY`, empty
    when none was sent) may give a ``reason``, kept in the audit trail.
    """
    principal = current_principal()
    resource_id = target_id(kind)
    precondition = if_match(resource_id, required=False)
    reason = body.get("reason")
    row = transition(kind, resource_id, target, principal=principal, if_match=precondition,
                     reason=reason, load=load_target(kind, principal))
    return resource_response(row, principal, render)


def audit_trail_response(kind: Kind, resource_id: str, snapshot_view: SnapshotView) -> Response:
    """``GET .../{id}/auditRecords``: the resource's audit trail, for those who may read it
    (even after the resource's deletion); ``404`` for anyone else (see
    :func:`store.audit_trail`). ``snapshot_view`` masks a decision's snapshot."""
    principal = current_principal()
    records = store.audit_trail(kind, resource_id, principal)
    path = f"{kind.path}/{resource_id}"
    return hal.response(render_audit_trail(records, path, principal, snapshot_view))


def record_response(kind: Kind, resource_id: str,
                    render: Callable[[Any, Principal], bytes]) -> Response:
    """``GET .../{id}/record``: the printable record (PDF), with the ETag rules of the JSON.

    Its owner, the institution and auditors may read it; anyone else gets the
    ``404`` of a missing resource (the ``apiture:record`` link follows the same rule).
    """
    return read_response(kind, resource_id, render, variant=RECORD, load=_load_record,
                         respond=functools.partial(
                             record.response, name=f"{kind.name}-{resource_id}.pdf"))


def _load_record(kind: Kind, resource_id: str, principal: Principal, *, head: bool) -> Any:
    """The row whose record ``principal`` may read (:data:`Load`), or ``404``."""
    # An auditor reads any owner's record, as it reads any owner's audit trail.
    row = store.load_visible(kind, resource_id, principal, head=head,
                             any_owner=policy.may_read_audit(principal))
    if not policy.may_read_record(principal, row):
        raise store.not_found(kind, resource_id)
    return row


class PagingArgs(Schema):
    """Query parameters every collection takes (documentation; ``collection_query``
    parses and enforces them, with its own ``400``s)."""

    start = fields.Integer(metadata={"minimum": 0, "maximum": 10**18 - 1,
                                     "description": "Zero-based index of the first item."})
    limit = fields.Integer(metadata={"minimum": 0, "maximum": 1000,
                                     "description": "Page size (default 100, at most 1000)."})


class CollectionArgs(PagingArgs):
    """Query parameters of the collections kept in the database: paging, sorting,
    filtering and searching."""

    sortBy = fields.String(metadata={"description": "e.g. `-createdAt,accountName`."})
    filter = fields.String(metadata={"description": "Filter expression, e.g. `eq(state,running)`."})
    q = fields.String(metadata={"description": "Text search over the name fields."})
    state = fields.String(metadata={"description": "`running|blocked`: any of these states."})


def error_responses(blp: Any, *statuses: int) -> Callable[[Any], Any]:
    """Document that a view may answer each of ``statuses`` with an errorResponse."""

    def apply(view: Any) -> Any:
        for status in reversed(statuses):  # innermost first: the listed order is kept
            view = blp.alt_response(status, schema=ErrorResponseSchema)(view)
        return view

    return apply


def register_actions(blp: Any, kind: Kind, schema: Any,
                     render: Callable[[Any, Principal], dict]) -> None:
    """Register ``POST`` on each of ``kind``'s action collections, from its one table."""
    for action in kind.actions.values():
        _register_action(blp, kind, action, schema, render)


def _register_action(blp: Any, kind: Kind, action: Action, schema: Any,
                     render: Callable[[Any, Principal], dict]) -> None:
    def view(body: dict[str, Any]) -> Response:
        return perform_action(kind, action.target, render, body)

    # The summary first: the decorators below document the view as they find it.
    view.__doc__ = action.summary
    view = requires("banking/write")(view)
    view = error_responses(blp, 400, 403, 409, 412)(view)
    view = blp.response(200, schema)(view)
    view = blp.arguments(ACTION_BODY, required=False)(view)
    view = blp.doc(parameters=[target_parameter(kind)])(view)
    blp.route(action.collection, methods=["POST"], endpoint=action.operation)(view)


def collection_links(*kinds: Kind) -> dict[str, str]:
    """rel -> path of each kind's collection, state views and action collections."""
    links: dict[str, str] = {}
    for kind in kinds:
        for path in (kind.path, *kind.views.values(),
                     *(action.collection for action in kind.actions.values())):
            links.setdefault(f"apiture:{path.lstrip('/')}", path)
    return links


def update_response(kind: Kind, resource_id: str, partial: bool, update: Callable[..., Any],
                    load: Any, render: Callable[[Any, Principal], dict]) -> Response:
    """``PUT`` (``partial=False``) or ``PATCH``: ``If-Match`` required; the domain's
    ``update`` validates the document with ``load`` and writes it by compare-and-set."""
    principal = current_principal()
    row = store.load_visible(kind, resource_id, principal)
    precondition = if_match(row.id, required=True)
    row = update(principal, row, request.get_json(), precondition, partial=partial, load=load)
    return resource_response(row, principal, render)
