"""Who is calling, and what may they do.

Every request passes :func:`authenticate` (a ``before_request`` hook): the
``API-Key`` header identifies the client application, the bearer JWT the user.
Each view declares what it needs with :func:`requires`; a view that declares
nothing is refused (default deny). Object-level rules (a user sees only what it
created) are :mod:`accountapps.auth.policy`'s, applied by every query through
:func:`accountapps.domain.store.visible`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
import json
import math
import os
import time
from collections.abc import Callable
from typing import Any, TypeVar

import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from flask import Flask, Request, current_app, g, request
from werkzeug.exceptions import HTTPException

from accountapps.auth import api_keys
from accountapps.auth.principal import Principal
from accountapps.domain.errors import ApiError
from accountapps.storage.text import unstorable

F = TypeVar("F", bound=Callable[..., Any])

#: Marker for views that need only the API key (the API root, apiDoc, schemas).
PUBLIC = "public"

#: Marker for views that need no credentials at all (health probes, and the
#: published documents: JSON Schemas, the docs page).
UNAUTHENTICATED = "unauthenticated"


def may_call(principal: Principal, method: str, path: str) -> bool:
    """True when ``principal``'s token passes the scope check of the route at ``method path``.

    The same check :func:`authenticate` makes on that route's declared scope,
    so a link to the route is shown only if following it clears that check
    (``path`` as for :func:`route_scope`).
    """
    required = route_scope(method, path)
    if required in (PUBLIC, UNAUTHENTICATED):
        return True
    return required is not None and principal.has(required)


def requires(scope: str) -> Callable[[F], F]:
    """Declare the scope a view needs (``banking/read``, ... or :data:`PUBLIC`)."""

    def mark(view: F) -> F:
        view.required_scope = scope  # type: ignore[attr-defined]
        return view

    return mark


#: ``app.extensions`` key of the per-app table ``(method, path) -> required scope``.
_ROUTE_SCOPES = "accountapps.route_scopes"


def route_scope(method: str, path: str) -> str | None:
    """The scope the view answering ``method path`` declares with :func:`requires`.

    ``path`` is a path on this app (``/accountApplications/approvedApplications``);
    a variable segment may be a placeholder such as ``{id}``, which routes like
    any id. Resolved through the URL map once per app and path, then a dict
    lookup: links are rendered on every GET. Pass fixed paths or patterns, never
    one per resource, or the table grows without bound.
    """
    scopes: dict[tuple[str, str], str | None] = current_app.extensions.setdefault(
        _ROUTE_SCOPES, {})
    key = (method, path)
    if key not in scopes:
        scopes[key] = _resolve_scope(current_app, method, path)
    return scopes[key]


def _resolve_scope(app: Flask, method: str, path: str) -> str | None:
    """The ``required_scope`` of the view ``method path`` routes to (uncached)."""
    try:
        endpoint, _arguments = app.url_map.bind("localhost").match(path, method=method)
    except HTTPException as exc:
        # A link to a route that does not exist is a bug: fail loudly, not silently hide it.
        raise LookupError(f"No route answers {method} {path}.") from exc
    return getattr(app.view_functions[endpoint], "required_scope", None)


def current_principal() -> Principal:
    """The caller of the current request (set by :func:`authenticate`)."""
    return g.principal


def _unauthorized(message: str) -> ApiError:
    return ApiError(
        401, "unauthorized", message,
        remediation="Send a valid API-Key header and an Authorization: Bearer access token.",
        headers={"WWW-Authenticate": 'Bearer realm="accountApplications"'},
    )


def request_client() -> str | None:
    """The client id of the current request's ``API-Key`` (looked up once per request)."""
    # Cached in the WSGI environ, which is per request (``g`` may outlive one).
    environ = request.environ
    marker = "accountapps.client_id"
    if marker in environ:
        client = environ[marker]
    else:
        key = environ.get("HTTP_API_KEY", "")
        client = environ[marker] = client_for_key(key) if key and len(key) <= 256 else None
    g.client_id = client
    return client


def client_for_key(key: str) -> str | None:
    """The client id an API key belongs to, or ``None`` if it is not valid.

    The key's digest is compared with each configured key's in constant time.
    """
    digest = api_keys.hash_key(key)
    for candidate in _configured_digests(current_app.config["ACCOUNTAPPS_API_KEYS"]):
        if hmac.compare_digest(candidate, digest):
            return f"key:{digest[:12]}"
    return api_keys.client_for(key)


@functools.lru_cache(maxsize=8)
def _configured_digests(configured: str) -> tuple[str, ...]:
    """The digest of each key of ``ACCOUNTAPPS_API_KEYS`` (worked out once per setting)."""
    return tuple(api_keys.hash_key(key) for key in (k.strip() for k in configured.split(","))
                 if key)


@functools.lru_cache(maxsize=8)
def _read_public_keys(path: str, kind: str, _mtime: float) -> tuple[tuple[str | None, Any], ...]:
    """``(kid, key)`` pairs of a PEM file or JWKS file (cached until the file changes)."""
    if kind == "pem":
        with open(path, "rb") as handle:
            return ((None, load_pem_public_key(handle.read())),)
    with open(path) as handle:
        document = json.load(handle)
    return tuple((jwk.get("kid"), jwt.PyJWK(jwk, algorithm="RS256").key)
                 for jwk in document.get("keys", []) if jwk.get("kty") == "RSA")


@functools.lru_cache(maxsize=8)
def _parse_pem(text: str) -> tuple[tuple[str | None, Any], ...]:
    return ((None, load_pem_public_key(text.encode())),)


def _public_keys(path: str, kind: str) -> tuple[tuple[str | None, Any], ...]:
    if kind == "pem" and path.lstrip().startswith("-----BEGIN"):
        return _parse_pem(path)  # the setting holds the PEM text itself
    return _read_public_keys(path, kind, os.stat(path).st_mtime)


def _verification_keys(kid: str | None) -> tuple[list[Any], list[str]]:
    """The keys a token may be signed with; HS256 secrets are ``str``, RSA keys objects."""
    config = current_app.config
    keys: list[Any] = []
    algorithms: list[str] = []
    if config.get("ACCOUNTAPPS_JWT_SECRET"):
        keys.append(config["ACCOUNTAPPS_JWT_SECRET"])
        algorithms.append("HS256")
    public: list[tuple[str | None, Any]] = []
    if config.get("ACCOUNTAPPS_JWT_PUBLIC_KEY"):
        public.extend(_public_keys(config["ACCOUNTAPPS_JWT_PUBLIC_KEY"], "pem"))
    if config.get("ACCOUNTAPPS_JWT_JWKS"):
        public.extend(_public_keys(config["ACCOUNTAPPS_JWT_JWKS"], "jwks"))
    if public:
        algorithms.append("RS256")
        # A token naming its key (kid) is checked against that key only.
        named = [key for key_id, key in public if kid is not None and key_id == kid]
        keys.extend(named or [key for key_id, key in public if key_id is None or kid is None])
    return keys, algorithms


#: Verified tokens kept per app (and so per worker): a client sends the same
#: token on every request, and verifying its signature and claims again costs
#: more than the rest of a small GET. Bounded; the oldest entry goes first.
TOKEN_CACHE_SIZE = 4096
TOKEN_CACHE_SECONDS = 60.0


def decode_token(token: str) -> dict[str, Any]:
    """Verify a bearer JWT and return its claims; raise ``401`` if it is not valid.

    The algorithm comes from our configuration, never from the token alone:
    ``alg: none`` is refused, and an HS256 token is checked only against the
    HS256 secret (never against an RSA public key, the "algorithm confusion"
    attack).

    A token verified before is served from a per-app cache until its ``exp``
    (plus the leeway) passes, for at most :data:`TOKEN_CACHE_SECONDS` (so a
    rotated key file takes effect within that time); only valid tokens are
    cached, so an invalid one is checked, and refused, every time.
    """
    cache: dict[str, tuple[float, dict[str, Any]]] = current_app.extensions.setdefault(
        "accountapps.verified_tokens", {})
    now = time.time()
    hit = cache.get(token)
    if hit is not None:
        good_until, claims = hit
        if now <= good_until:
            return claims
        cache.pop(token, None)
    claims = _verify_token(token)
    if isinstance(claims.get("exp"), (int, float)):
        while len(cache) >= TOKEN_CACHE_SIZE:
            # One C-level call each: safe without a lock under threads.
            cache.pop(next(iter(cache), None), None)
        leeway = current_app.config["ACCOUNTAPPS_JWT_LEEWAY"]
        latest, exp = now + TOKEN_CACHE_SECONDS, claims["exp"]
        # Compared first: a huge integer exp plus a float leeway overflows a float.
        cache[token] = (latest if exp >= latest else min(exp + leeway, latest), claims)
    return claims


def _unverified_header(token: str) -> dict[str, Any]:
    """The token's JOSE header, only to choose the key and algorithm.

    ``jwt.decode`` parses and checks the whole token again (PyJWT checks every
    character of each segment in Python: parsing the header with it too would
    do that work twice). Anything odd here is refused; anything that passes is
    still verified in full by ``jwt.decode``.
    """
    segment = token.split(".", 1)[0]
    try:
        header = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, TypeError, RecursionError, binascii.Error) as exc:
        raise _unauthorized("The access token is missing, invalid or expired.") from exc
    if not isinstance(header, dict) or token.count(".") != 2:
        raise _unauthorized("The access token is missing, invalid or expired.")
    return header


def _verify_token(token: str) -> dict[str, Any]:
    config = current_app.config
    header = _unverified_header(token)
    header_alg = header.get("alg")
    kid = header.get("kid") if isinstance(header.get("kid"), str) else None
    keys, algorithms = _verification_keys(kid)
    if header_alg not in algorithms:
        raise _unauthorized("The access token is missing, invalid or expired.")
    for key in keys:
        if isinstance(key, str) != (header_alg == "HS256"):
            continue
        try:
            claims = jwt.decode(
                token, key, algorithms=[header_alg],
                audience=config.get("ACCOUNTAPPS_JWT_AUDIENCE"),
                issuer=config.get("ACCOUNTAPPS_JWT_ISSUER"),
                leeway=config["ACCOUNTAPPS_JWT_LEEWAY"],
                options={"require": ["exp", "sub"], "verify_aud": bool(
                    config.get("ACCOUNTAPPS_JWT_AUDIENCE"))},
            )
        except jwt.InvalidSignatureError:
            continue
        except jwt.PyJWTError as exc:
            raise _unauthorized("The access token is missing, invalid or expired.") from exc
        _check_dates(claims)
        return claims
    raise _unauthorized("The access token is missing, invalid or expired.")


#: The latest NumericDate accepted: the last second of the year 9999.
MAX_NUMERIC_DATE = 253_402_300_799


def _numeric_date(value: Any) -> bool:
    """A JWT NumericDate (RFC 7519 §2): a JSON number of seconds, finite and sane."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    # Compared as it is: a huge integer would overflow a float.
    return 0 <= value <= MAX_NUMERIC_DATE and (isinstance(value, int) or math.isfinite(value))


def _check_dates(claims: dict[str, Any]) -> None:
    """``401`` for an ``exp``, ``nbf`` or ``iat`` that is not a NumericDate (PyJWT
    takes ``"9999999999"`` and ``1e30``, a token that never expires), or a token
    that would live longer than ``ACCOUNTAPPS_JWT_MAX_LIFETIME`` (when set)."""
    if not all(_numeric_date(claims[name]) for name in ("exp", "nbf", "iat") if name in claims):
        raise _unauthorized("The access token is missing, invalid or expired.")
    config = current_app.config
    longest = config.get("ACCOUNTAPPS_JWT_MAX_LIFETIME") or 0
    if longest:
        exp, iat = claims["exp"], claims.get("iat")
        if exp - time.time() > longest + config["ACCOUNTAPPS_JWT_LEEWAY"] or (
                iat is not None and exp - iat > longest):
            raise _unauthorized("The access token is missing, invalid or expired.")


def mint_token(
    subject: str, scopes: str, *, secret: str, expires_in: int = 3600, **claims: Any
) -> str:
    """An HS256 token for development and tests."""
    now = int(time.time())
    payload = {"sub": subject, "scope": scopes, "iat": now, "nbf": now,
               "exp": now + expires_in, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


_IDENTITY = "accountapps.identity"


def _caller() -> Principal:
    """The caller the request's API key and bearer token name; ``401`` unless both are valid."""
    client = request_client()
    if client is None:
        raise _unauthorized("The API key is missing or not valid.")
    header = request.environ.get("HTTP_AUTHORIZATION", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("The access token is missing, invalid or expired.")
    claims = decode_token(token.strip())
    scope_claim = claims.get("scope", "")
    subject = claims.get("sub")
    # A user id longer than the owner column, or holding text no database here
    # stores (U+0000, a lone surrogate), could never own anything: refuse it.
    if not isinstance(scope_claim, str) or not isinstance(subject, str) or not (
            0 < len(subject) <= 255) or unstorable(subject):
        raise _unauthorized("The access token is missing, invalid or expired.")
    return Principal(subject, frozenset(scope_claim.split()), client)


def _identity() -> Principal | ApiError:
    """:func:`_caller`, or the ``401`` it raised: worked out once per request."""
    environ = request.environ
    identity = environ.get(_IDENTITY)
    if identity is None:
        try:
            identity = _caller()
        except ApiError as error:
            identity = error
        environ[_IDENTITY] = identity
    return identity


def identify() -> Principal | None:
    """Who is calling, if the request carries a valid API key *and* bearer token;
    ``None`` otherwise. Never raises (the rate limits ask it before the view's
    own check, :func:`authenticate`, which reuses the answer)."""
    identity = _identity()
    return identity if isinstance(identity, Principal) else None


def authenticate(current: Request, _context: Any) -> None:
    """Before each request: identify the caller and check the view's declared scope."""
    view = current_app.view_functions.get(current.endpoint or "")
    if view is None:  # unknown path or method: let routing answer 404/405
        return
    if current.method == "OPTIONS" and getattr(
            current.url_rule, "provide_automatic_options", False):
        return  # Flask's own answer listing the methods; no view runs
    required = getattr(view, "required_scope", None)
    if required == UNAUTHENTICATED:
        return
    if required == PUBLIC:
        if request_client() is None:
            raise _unauthorized("The API key is missing or not valid.")
        return
    identity = _identity()
    if isinstance(identity, ApiError):
        raise identity
    principal = g.principal = identity
    if required is None or not principal.has(required):
        raise ApiError(
            403, "insufficientScope",
            "The access token does not grant the scope this operation requires.",
            attributes={"requiredScope": required} if required else None,
            remediation="Request an access token with the required scope.",
        )
