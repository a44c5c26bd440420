"""Request and response rules shared by every route: URLs, hosts, headers, CORS.

Request bodies have their own module, :mod:`.bodies`.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlsplit

from flask import (
    Flask,
    Request,
    Response,
    current_app,
    has_app_context,
    has_request_context,
    request,
)
from werkzeug.exceptions import NotFound
from werkzeug.routing import RequestRedirect

from accountapps.config import LinkHost, host_name
from accountapps.domain.errors import ApiError
from accountapps.web import hal, hooks

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "private, no-cache",
}
#: :data:`SECURITY_HEADERS` as ``(lower-case name, (name, value))``, for the after hook.
_SECURITY_ITEMS = tuple((name.lower(), (name, value)) for name, value in SECURITY_HEADERS.items())


#: What a browser front end may send and read (CORS).
CORS_ALLOW_HEADERS = ("API-Key, Authorization, Content-Type, Idempotency-Key, If-Match, "
                      "If-None-Match, X-Request-ID")
CORS_EXPOSE_HEADERS = ("ETag, Idempotent-Replayed, Location, X-Request-ID, Retry-After, "
                       "WWW-Authenticate")
CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_MAX_AGE = "600"


def _nul_refused(where: str) -> ApiError:
    return ApiError(400, "invalidCharacter",
                    f"{where} contains the NUL character (U+0000), which no text may hold.",
                    remediation="Remove the NUL character.")


#: A host name (letters, digits, "-", "_", dots), an IPv4 address or a bracketed
#: IPv6 address, then an optional port: what the links of every answer are built on.
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?"
_HOST = re.compile(
    rf"({_LABEL}(?:\.{_LABEL})*\.?|\[[0-9A-Fa-f:.]+\])(?::(\d{{1,5}}))?")


F = TypeVar("F", bound=Callable[..., Any])


def probe(view: F) -> F:
    """Mark a view as a health probe: answered whatever the ``Host`` (load balancers and
    orchestrators probe an instance by its address; a probe's answer carries no link
    built on it) and never rate-limited (:mod:`.limits`)."""
    view.probe = True  # type: ignore[attr-defined]
    return view


def _is_probe(current: Request) -> bool:
    view = current_app.view_functions.get(current.endpoint or "")
    return getattr(view, "probe", False)


def host_allowed(name: str, allowed: tuple[str, ...]) -> bool:
    """True when the host ``name`` (canonical, :func:`accountapps.config.host_name`)
    is one ``ACCOUNTAPPS_ALLOWED_HOSTS`` admits: listed, under a listed ``.domain``, or ``*``."""
    for entry in allowed:
        if entry == name or entry == "*" or (
                entry.startswith(".") and (name == entry[1:] or name.endswith(entry))):
            return True
    return False


@functools.lru_cache(maxsize=1024)
def _host_verdict(host: str, allowed: tuple[str, ...]) -> bool | None:
    """``None`` when ``host`` (a ``Host`` header, at most 260 characters) names no
    host, else whether ``allowed`` admits it (kept for the hosts seen last: a
    service answers for few)."""
    match = _HOST.fullmatch(host)
    if match is None or (match.group(2) is not None and not 0 < int(match.group(2)) < 65536):
        return None
    name = host_name(match.group(1))
    return name is not None and host_allowed(name, allowed)


def _refuse_invalid_host(current: Request) -> None:
    """``400`` for a ``Host`` that is not a host, or none in HTTP/1.1 (RFC 9112 §3.2),
    or one this service does not answer for (``ACCOUNTAPPS_ALLOWED_HOSTS``): every
    href is built on it."""
    environ = current.environ
    missing = "HTTP_HOST" not in environ and environ.get("SERVER_PROTOCOL") == "HTTP/1.1"
    host = "" if missing else current.host
    allowed = current_app.config["ACCOUNTAPPS_ALLOWED_HOSTS"]
    verdict = _host_verdict(host, allowed) if len(host) <= 260 else None
    if verdict is None:
        # The error's own links (its _profile) are built on the server's address.
        hal.use_host_url(f"{current.scheme}://{environ.get('SERVER_NAME', 'localhost')}"
                         f":{environ.get('SERVER_PORT', '80')}")
        raise ApiError(400, "invalidHost", "The Host header does not name a host."
                       if not missing else "An HTTP/1.1 request must have a Host header.",
                       attributes={"host": host[:260]},
                       remediation="Send the host name (and port) the request was sent to.")
    if not verdict:
        # No link may lead to a host nobody vouched for: the answer's links are relative.
        hal.use_host_url("")
        if _is_probe(current):
            return
        raise ApiError(400, "invalidHost",
                       "This service does not answer for the host named in the Host header.",
                       attributes={"host": host},
                       remediation="Send the request to one of the service's host names.")


# --- where links sent by clients may lead ---------------------------------------

_DEFAULT_PORTS = {"http": 80, "https": 443}
_LINK_TARGETS = "accountapps.link_targets"


def _is_loopback(name: str) -> bool:
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def _link_targets() -> tuple[LinkHost, ...]:
    """The hosts links may lead to: ``ACCOUNTAPPS_LINK_HOSTS``, the platform's host
    (``ACCOUNTAPPS_PLATFORM_URL``) and this API's own host (one the allow-list admits)."""
    if not has_app_context():
        return ()  # no configuration: no host is the platform's
    environ = request.environ if has_request_context() else None
    if environ is not None and _LINK_TARGETS in environ:
        return environ[_LINK_TARGETS]
    config = current_app.config
    targets = list(config["ACCOUNTAPPS_LINK_HOSTS"])
    # The platform's scheme is the institution's choice; this API's own host is
    # reached over https (or, on a loopback host, http: see link_target_allowed),
    # and counts only when the allow-list names it (not merely admits any host).
    named = tuple(entry for entry in config["ACCOUNTAPPS_ALLOWED_HOSTS"] if entry != "*")
    for url, own in ((config.get("ACCOUNTAPPS_PLATFORM_URL"), False),
                     (hal.host_url() if environ is not None else None, True)):
        parts = urlsplit(url or "")
        name = host_name(parts.hostname or "")
        if name is not None and not (own and not host_allowed(name, named)):
            targets.append(LinkHost(name, parts.port, not own and parts.scheme == "http"))
    if environ is not None:
        environ[_LINK_TARGETS] = tuple(targets)
    return tuple(targets)


def link_target_allowed(scheme: str, host: str, port: int | None) -> bool:
    """True when a link a client sent, to ``scheme://host:port``, leads where links may.

    ``https`` to a host of :func:`_link_targets` (on its port; an entry without
    one means the default port), or ``http`` to such a host when it was
    configured with ``http://`` or is a loopback host (development).
    """
    name = host_name(host)
    if name is None or scheme not in _DEFAULT_PORTS:
        return False
    port = port or _DEFAULT_PORTS[scheme]
    for target in _link_targets():
        if (target.host == name and (target.port or _DEFAULT_PORTS[scheme]) == port
                and (scheme == "https" or target.http or _is_loopback(name))):
            return True
    return False


def _refuse_repeated_parameters(current: Request) -> None:
    """``400`` for a query parameter given twice: each takes one value (lists are
    ``a|b``), and silently using only one would widen what a client asked for."""
    if not current.environ.get("QUERY_STRING"):
        return  # most requests: no query to parse
    for name, values in current.args.lists():
        if len(values) > 1:
            raise ApiError(
                400, "invalidQueryParameter",
                f"The query parameter {name!r} is given {len(values)} times; it takes one "
                "value (several states or names are one value joined by |, several "
                "conditions one filter joined by and()).",
                attributes={"name": name[:64]},
                remediation="Send each query parameter once.")


def _no_redirects(current: Request) -> None:
    """``404`` (naming the right URL) where routing would redirect.

    werkzeug redirects ``/accountApplications`` to ``/accountApplications/``
    with an HTML page, which no client of this API reads; Flask sends routing
    redirects past the error handlers, so they are turned into errors here.
    """
    redirect = current.routing_exception
    if isinstance(redirect, RequestRedirect):
        raise ApiError(404, "notFound", f"There is nothing at {current.path}; "
                       f"did you mean {redirect.new_url}?",
                       attributes={"location": redirect.new_url})


def _refuse_nul_in_url(current: Request) -> None:
    """``404`` for a NUL character in the path, ``400`` in the query (``%00``).

    PostgreSQL's text cannot hold U+0000 (the driver refuses the statement)
    while SQLite's can: answering at the door gives one answer on both. No
    resource's URL holds one, hence the ``404``.
    """
    if "\x00" in current.path:
        raise NotFound()
    if b"%00" in current.query_string:
        raise _nul_refused("The query")


def allowed_origin(origin: str | None) -> str | None:
    """The ``Access-Control-Allow-Origin`` value for ``origin``, or ``None`` if not allowed.

    ``ACCOUNTAPPS_CORS_ORIGINS`` lists origins (``https://app.example.com``) or
    is ``*``. Credentials travel in headers (``API-Key``, ``Authorization``),
    never cookies, so no ``Access-Control-Allow-Credentials`` is needed.
    """
    if not origin:
        return None
    configured = [o.strip().rstrip("/") for o in
                  (current_app.config.get("ACCOUNTAPPS_CORS_ORIGINS") or "").split(",")]
    if "*" in configured:
        return "*"
    return origin if origin in configured else None


def _preflight(current: Request) -> Response | None:
    """Answer a CORS preflight before any credential check (browsers send none)."""
    if current.method != "OPTIONS" or "Access-Control-Request-Method" not in current.headers:
        return None
    response = Response(status=204)
    response.headers["Vary"] = "Origin"
    origin = allowed_origin(current.headers.get("Origin"))
    if origin is not None:  # otherwise no CORS headers: the browser refuses
        response.headers.update({
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": CORS_METHODS,
            "Access-Control-Allow-Headers": CORS_ALLOW_HEADERS,
            "Access-Control-Max-Age": CORS_MAX_AGE,
        })
    return response


def _cors_headers(current: Request, response: Response, configured: bool) -> None:
    if "Access-Control-Allow-Origin" in response.headers:
        return  # a preflight answer
    origin = allowed_origin(current.environ.get("HTTP_ORIGIN"))
    if configured:
        response.vary.add("Origin")
    if origin is not None:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = CORS_EXPOSE_HEADERS


def _screen(current: Request, _context: Any) -> Response | None:
    """Before each request: the rules above, in order."""
    _refuse_invalid_host(current)
    answer = _preflight(current)
    if answer is not None:
        return answer
    _no_redirects(current)
    _refuse_nul_in_url(current)
    _refuse_repeated_parameters(current)
    return None


def init_app(app: Flask) -> None:
    """Screen URLs and hosts, answer CORS preflights, add security headers."""
    hooks.before(app, _screen)

    def _headers(current: Request, _context: Any, response: Response) -> Response:
        # One pass over the headers, not one setdefault (and one scan) per header;
        # the constant items join werkzeug's list as they are (Headers.extend would
        # check each value for line breaks again on every response).
        present = {name.lower() for name, _value in response.headers}
        response.headers._list.extend(
            [item for lower, item in _SECURITY_ITEMS if lower not in present])
        _cors_headers(current, response, bool(app.config.get("ACCOUNTAPPS_CORS_ORIGINS")))
        if (current.method == "OPTIONS" and response.status_code == 200
                and not response.is_streamed and not response.get_data()):
            # Flask's automatic answer: only its Allow header says anything.
            # No Content, rather than an empty body labelled text/html.
            response.status_code = 204
            del response.headers["Content-Type"]
        if current.scheme == "https":
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response

    hooks.after(app, _headers)
