"""Where webhooks may go: no server-side request forgery.

A receiver is an ``https`` URL on a public address. Its name is resolved when
it is subscribed and again before every delivery, and the delivery connects
to the address that was checked (a name that resolves to a public address
once and to ``127.0.0.1`` the next time reaches nothing it should not).
``ACCOUNTAPPS_WEBHOOK_ALLOW_PRIVATE`` allows ``http`` and loopback or private
addresses for development and tests; link-local addresses (the cloud's
metadata service at ``169.254.169.254``), multicast and unspecified addresses
are never allowed.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: The longest receiver URL.
MAX_URL = 2048


class RefusedReceiver(ValueError):
    """A receiver URL, or an address it resolves to, that webhooks may not reach."""


def address_allowed(address: IPAddress, *, allow_private: bool) -> bool:
    """True when a delivery may connect to ``address``."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_link_local or address.is_multicast or address.is_unspecified:
        return False
    if allow_private:
        return True
    return address.is_global and not address.is_reserved


def parse(url: str, *, allow_private: bool) -> SplitResult:
    """``url`` split, if it is a receiver URL at all (scheme, host, no credentials)."""
    if not isinstance(url, str) or len(url) > MAX_URL or any(c.isspace() for c in url):
        raise RefusedReceiver(f"must be a URL of at most {MAX_URL} characters.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise RefusedReceiver("is not a valid URL.") from exc
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise RefusedReceiver("must be an https URL." if not allow_private
                              else "must be an http or https URL.")
    if not parts.hostname:
        raise RefusedReceiver("must name a host.")
    if parts.username is not None or parts.password is not None:
        raise RefusedReceiver("must not carry credentials; the signature authenticates "
                              "the sender.")
    if parts.fragment:
        raise RefusedReceiver("must not have a fragment.")
    if port == 0:
        raise RefusedReceiver("must not use port 0.")
    return parts


def default_port(parts: SplitResult) -> int:
    """The port a delivery to ``parts`` connects to."""
    return parts.port or (443 if parts.scheme == "https" else 80)


def addresses(parts: SplitResult) -> list[IPAddress]:
    """The addresses the receiver's host stands for (resolved now)."""
    host = parts.hostname or ""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, default_port(parts), type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise RefusedReceiver(f"names a host that cannot be resolved ({host}).") from exc
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def check(url: str, *, allow_private: bool) -> tuple[SplitResult, IPAddress]:
    """The receiver's parts and the address to connect to; :class:`RefusedReceiver` if none.

    Every address the name resolves to must be allowed: a name with one
    public and one private address could otherwise be steered to the private one.
    """
    parts = parse(url, allow_private=allow_private)
    found = addresses(parts)
    refused = [a for a in found if not address_allowed(a, allow_private=allow_private)]
    if not found or refused:
        shown = refused[0] if refused else parts.hostname
        raise RefusedReceiver(
            f"resolves to {shown}, which is not a public address." if not allow_private
            else f"resolves to {shown}, which webhooks may never reach.")
    return parts, found[0]
