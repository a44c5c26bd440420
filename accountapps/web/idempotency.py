"""``Idempotency-Key``: a POST sent again gets the first one's answer, never a second effect.

Every ``POST`` view is wrapped once, here (:func:`init_app`), so each
operation, present and future, follows the same rules (draft-ietf-httpapi-
idempotency-key-header):

- Without the header a POST runs as always (or is ``400`` when
  ``ACCOUNTAPPS_REQUIRE_IDEMPOTENCY_KEY`` is set). A key is 1 to 255 printable
  ASCII characters, sent bare or as the draft's quoted string; else ``400``.
- The first request with a key executes in one transaction with the storing of
  its answer (status, ``Content-Type``, ``Location``, ``ETag``, ``Vary``, body):
  both happen, or neither (:mod:`accountapps.storage.idempotency`).
- A repeat from the same client application and user, for the same request
  (method, path, SHA-256 of the query and of the body), gets that answer byte
  for byte with ``Idempotent-Replayed: true``, and nothing executes; the same
  key for another request is ``422`` naming what differs; a repeat while the
  first still executes is ``409`` with ``Retry-After``.
- Only an outcome is stored: a success, or a ``409`` conflict with the
  resource's state. Every other refusal (``400``, ``401``, ``403``, ``404``,
  ``412``, ``415``, ``422``, ``428``, ``429``: the request was refused before
  it took effect, and the client can correct it), a ``409`` that asks to retry,
  and a ``5xx`` store nothing, and the key can be used again. (Refusals by the
  request hooks, before any view runs, never reach this module.)
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Flask, Response, current_app, g, request

from accountapps.domain.errors import ApiError
from accountapps.storage import idempotency
from accountapps.storage.idempotency import Answer, Fingerprint, Scope, Stored
from accountapps.web.errors import error_response

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
#: The headers an answer is replayed with; the others are each response's own
#: (the request id, security headers, CORS).
KEPT_HEADERS = ("Content-Type", "Location", "ETag", "Vary")
MAX_KEY_LENGTH = 255
RETRY_AFTER_SECONDS = 1
#: ``409`` types that ask the client to retry: not an outcome, so not stored.
RETRYABLE_CONFLICTS = frozenset({"concurrentModification"})

_KEY = re.compile(rf"[\x20-\x7e]{{1,{MAX_KEY_LENGTH}}}")
#: RFC 8941's sf-string, the form the draft gives the header.
_QUOTED = re.compile(r'"((?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\["\\])*)"')
_ESCAPE = re.compile(r'\\(["\\])')
_REMEDY = "Send a new key (a UUID, say) with each new request, and the same key with its retries."


def invalid_key() -> ApiError:
    """``400``: the header is not a key."""
    return ApiError(
        400, "invalidIdempotencyKey",
        f"The {HEADER} header must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.",
        remediation=_REMEDY)


def key_required() -> ApiError:
    """``400``: this service requires a key on every POST."""
    return ApiError(400, "idempotencyKeyRequired",
                    f"This service requires an {HEADER} header on every POST.",
                    remediation=_REMEDY)


def key_in_use(key: str) -> ApiError:
    """``409``: a request with the key is executing now."""
    return ApiError(
        409, "idempotencyKeyInUse",
        f"A request with this {HEADER} is still executing.",
        attributes={"idempotencyKey": key},
        remediation="Retry after the time given to get its answer.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def key_reused(key: str, differences: list[str]) -> ApiError:
    """``422``: the key answered another request (``differences``: what differs)."""
    parts = " and ".join(differences)
    return ApiError(
        422, "idempotencyKeyReused",
        f"This {HEADER} was used for another request: the {parts} "
        f"differ{'s' if len(differences) == 1 else ''}.",
        attributes={"idempotencyKey": key, "differences": differences},
        remediation="Send the same request to get its answer again, or use a new key "
                    "for a new request.")


def parse_key(value: str) -> str:
    """The key a header value gives: the value itself or, quoted, its content (else ``400``)."""
    if value.startswith('"'):
        quoted = _QUOTED.fullmatch(value)
        if quoted is None:
            raise invalid_key()
        value = _ESCAPE.sub(r"\1", quoted.group(1))
    if not _KEY.fullmatch(value):
        raise invalid_key()
    return value


def _fingerprint() -> Fingerprint:
    current = request
    return Fingerprint(current.method, current.path,
                       hashlib.sha256(current.query_string).hexdigest(),
                       hashlib.sha256(current.get_data(cache=True)).hexdigest())


def _scope(key: str) -> Scope:
    principal = g.get("principal")
    if principal is None:  # a POST that needs no user token: the client's alone
        return Scope(g.get("client_id") or "", "", key)
    return Scope(principal.client_id, principal.user_id, key)


def _execute(view: Callable[..., Any], args: Any, kwargs: Any) -> tuple[Response, bool]:
    """The view's answer, and whether it is an outcome to store (see module)."""
    try:
        response = view(*args, **kwargs)
        if not isinstance(response, Response):
            response = current_app.make_response(response)
    except ApiError as error:
        if error.status != 409 or error.type in RETRYABLE_CONFLICTS:
            raise  # rolled back: nothing of it is kept
        return error_response(error), True
    return response, 200 <= response.status_code < 300


_KEPT = frozenset(name.lower() for name in KEPT_HEADERS)


def _answer(response: Response) -> Answer:
    return Answer(response.status_code,
                  [(name, value) for name, value in response.headers if name.lower() in _KEPT],
                  response.get_data())


def _replay(stored: Stored, this: Fingerprint, key: str) -> Response:
    differences = stored.request.differences(this)
    if differences:
        raise key_reused(key, differences)
    answer = stored.answer
    response = Response(answer.body, status=answer.status, headers=answer.headers)
    response.headers[REPLAYED] = "true"
    return response


def _once(view: Callable[..., Any], args: Any, kwargs: Any, key: str) -> Response:
    """Run the view for the first request with ``key``; replay its answer for the others."""
    scope = _scope(key)
    kept_for = timedelta(hours=current_app.config["ACCOUNTAPPS_IDEMPOTENCY_TTL_HOURS"])
    this = _fingerprint()
    try:
        return _attempt(view, args, kwargs, key, scope, kept_for, this, defer=True)
    except idempotency.Again:  # rolled back: nothing of the first run remains
        return _attempt(view, args, kwargs, key, scope, kept_for, this, defer=False)


def _attempt(view: Callable[..., Any], args: Any, kwargs: Any, key: str, scope: Scope,
             kept_for: timedelta, this: Fingerprint, *, defer: bool) -> Response:
    try:
        with idempotency.attempt(scope, kept_for, defer=defer) as attempt:
            if attempt.stored is not None:
                return _replay(attempt.stored, this, key)
            if attempt.busy:
                raise key_in_use(key)
            response, outcome = _execute(view, args, kwargs)
            if outcome:
                attempt.keep(this, _answer(response))
            return response
    except idempotency.KeyTaken:
        # Another request with the key took effect first: ours was rolled back.
        stored = idempotency.find(scope, kept_for)
        if stored is None:  # and its answer is gone already (pruned)
            raise key_in_use(key) from None
        return _replay(stored, this, key)


def keyed(view: Callable[..., Any]) -> Callable[..., Any]:
    """``view`` (a POST's) with the ``Idempotency-Key`` rules of this module."""

    @functools.wraps(view)
    def run(*args: Any, **kwargs: Any) -> Any:
        if request.method != "POST":
            return view(*args, **kwargs)
        header = request.environ.get("HTTP_IDEMPOTENCY_KEY")
        if header is None:
            if current_app.config["ACCOUNTAPPS_REQUIRE_IDEMPOTENCY_KEY"]:
                raise key_required()
            return view(*args, **kwargs)
        return _once(view, args, kwargs, parse_key(header))

    return run


def init_app(app: Flask) -> None:
    """Wrap the view of every ``POST`` route (call once the blueprints are registered)."""
    for rule in app.url_map.iter_rules():
        if "POST" in (rule.methods or ()):
            app.view_functions[rule.endpoint] = keyed(app.view_functions[rule.endpoint])
