"""HAL rendering: absolute URIs, links, ``_profile`` and the hal+json response.

Every ``href`` the service emits is built here, from the request's scheme and
host (``X-Forwarded-*`` is honoured when ``ACCOUNTAPPS_BEHIND_PROXY`` is set).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Response, current_app, request

from accountapps.storage import jsoncodec

BASE_PATH = "/accountApplications"
MEDIA_TYPE = "application/hal+json"
PROFILE_VERSION = "v1.0.0"


_HOST_URL = "accountapps.host_url"


def platform_url() -> str:
    """Where the neighbouring APIs live (Products, Approvals, Contacts): links to them.

    ``ACCOUNTAPPS_PLATFORM_URL`` when the institution sets it, else this
    request's own ``scheme://host`` (the APIs behind one gateway).
    """
    return institution_platform_url() or host_url()


def institution_platform_url() -> str:
    """``ACCOUNTAPPS_PLATFORM_URL``: the institution's own neighbouring APIs (empty: none)."""
    return current_app.config.get("ACCOUNTAPPS_PLATFORM_URL") or ""


def use_host_url(url: str) -> None:
    """Build this request's links on ``url`` instead of its ``Host`` (one that names no host)."""
    request.environ[_HOST_URL] = url


def host_url() -> str:
    """``scheme://host`` of the current request, without a trailing slash.

    Computed once per request: every link of a representation starts with it.
    werkzeug's ``host_url`` also turns a percent-encoded host into an IRI, which
    a host without ``%`` never needs, for every request.
    """
    environ = request.environ
    url = environ.get(_HOST_URL)
    if url is None:
        host = request.host
        url = (f"{request.scheme}://{host}" if "%" not in host
               else request.host_url.rstrip("/"))
        environ[_HOST_URL] = url
    return url


def api_url(path: str = "/", query: dict[str, Any] | None = None) -> str:
    """Absolute URI of ``path`` under the API's base path, with an optional query."""
    url = f"{host_url()}{BASE_PATH}{path}"
    if query:
        pairs = {k: v for k, v in query.items() if v is not None}
        if pairs:
            url = f"{url}?{urlencode(pairs, safe=',|()')}"
    return url


def profile_path(name: str) -> str:
    """The path of a representation's JSON Schema on this server."""
    return f"{BASE_PATH}/schemas/{name}/{PROFILE_VERSION}/profile.json"


def profile(name: str) -> str:
    """The ``_profile`` URI of a representation: its JSON Schema, served by us."""
    return host_url() + profile_path(name)


def link(href: str, **attributes: Any) -> dict[str, Any]:
    """A HAL link object."""
    return {"href": href, **attributes}


def links(**rels: str | None) -> dict[str, dict[str, Any]]:
    """A ``_links`` object from ``rel=href`` pairs; ``apiture_x`` becomes ``apiture:x``.

    Relations whose href is ``None`` are left out: a link is present only where
    it applies.
    """
    return {
        rel.replace("apiture_", "apiture:", 1): {"href": href}
        for rel, href in rels.items()
        if href is not None
    }


def dumps(body: Any) -> bytes:
    """Compact UTF-8 JSON; money and ids are already strings, so no custom encoder."""
    return jsoncodec.dumps_bytes(body)


def response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A ``application/hal+json`` response."""
    return Response(dumps(body), status=status, headers=headers, content_type=MEDIA_TYPE)
