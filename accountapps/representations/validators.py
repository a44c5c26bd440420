"""Field validators shared by every representation."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from marshmallow import ValidationError, validate

from accountapps.web.http import link_target_allowed

#: ISO 4217 active currency codes.
CURRENCIES = frozenset("""
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BOV BRL BSD
BTN BWP BYN BZD CAD CDF CHE CHF CHW CLF CLP CNY COP COU CRC CUP CVE CZK DJF DKK DOP DZD
EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD
IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL
MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MXV MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN
PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN
SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD USN UYI UYU UYW UZS VED VES
VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG
""".split())

#: Minor-unit digits where they differ from 2.
_MINOR_UNITS = {
    **dict.fromkeys(
        "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split(), 0),
    **dict.fromkeys("BHD IQD JOD KWD LYD OMR TND".split(), 3),
    "CLF": 4, "UYW": 4,
}

MAX_AMOUNT = Decimal("999999999999.99")


class Pattern(validate.Regexp):
    """A regular expression the whole value must match, carried into the OpenAPI document.

    apispec writes a ``validate.Regexp`` as the field's ``pattern``, so the
    expression must mean the same in Python and in ECMAScript (JSON Schema):
    ``[0-9]`` rather than ``\\d``, which in Python matches any Unicode digit.
    The match is a full match: Python's ``$`` would accept a trailing newline
    that ECMAScript's does not.
    """

    def __call__(self, value: str) -> str:
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


#: An ISO 4217 currency code: documented as an ``enum``.
currency = validate.OneOf(sorted(CURRENCIES),
                          error="Must be an ISO 4217 currency code, such as USD.")

#: A non-negative decimal amount written as a string (``"1500.00"``).
decimal_string = Pattern(r"^[0-9]{1,15}(\.[0-9]{1,4})?$",
                         error="Must be a non-negative decimal string such as \"1500.00\".")


def amount_for_currency(value: str, code: str) -> str | None:
    """Check the amount's precision against the currency; return an error message."""
    try:
        amount = Decimal(value)
    except InvalidOperation:
        return "Must be a decimal string."
    digits = _MINOR_UNITS.get(code, 2)
    if -amount.as_tuple().exponent > digits:  # type: ignore[operator]
        return f"{code} amounts have at most {digits} decimal places."
    if amount > MAX_AMOUNT:
        return "Amount is too large."
    return None


def _routing_checksum(value: str) -> None:
    """The ABA checksum of 9 ASCII digits (anything else is the pattern's error)."""
    if len(value) != 9 or not value.isascii() or not value.isdigit():
        return  # marshmallow runs every validator: the pattern reports this one
    d = [int(c) for c in value]
    total = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])
    if total % 10:
        raise ValidationError("Is not a valid ABA routing number (checksum mismatch).")


#: A 9-digit ABA routing transit number with a valid checksum (the checksum
#: cannot be a pattern).
routing_number = [Pattern(r"^[0-9]{9}$", error="Must be a 9-digit ABA routing number."),
                  _routing_checksum]

#: A bank account number: 4 to 17 digits. The masked form the service renders
#: (``******3210``) passes too, so that a client can send back what it fetched;
#: the domain then keeps the stored number, or refuses a masked value that
#: replaces nothing.
account_number = [
    validate.Length(max=32),
    Pattern(r"^([0-9]{4,17}|\*{5,28}[0-9]{0,4})$", error="Must be 4 to 17 digits."),
]


def restore_masked(incoming: Any, stored: Any, shown: Any) -> Any:
    """Put back the stored value wherever ``incoming`` holds exactly what is shown for it.

    ``shown`` is ``stored`` as the representation renders it to a reader without
    PII access. Such a client sends back what it fetched: a value equal to the
    masked rendering at the same place (``*****3333``) means "unchanged". Any
    other value is the client's, stored and validated like any value: a place
    the representation does not mask (a name) shows the stored value itself, so
    ``*Star`` there is a name, and a masked-looking value that is not the stored
    value's mask is left for validation to refuse.

    List items are matched by their ``_id`` when it is a string naming a stored
    item, else by position; an ``_id`` that is not a string names nothing and is
    left for validation to report.
    """
    if isinstance(incoming, dict) and isinstance(stored, dict) and isinstance(shown, dict):
        for key, value in incoming.items():
            if _sent_back_masked(value, stored.get(key), shown.get(key)):
                incoming[key] = stored[key]
            else:
                restore_masked(value, stored.get(key), shown.get(key))
    elif isinstance(incoming, list) and isinstance(stored, list) and isinstance(shown, list):
        by_id = {item["_id"]: index for index, item in enumerate(stored)
                 if isinstance(item, dict) and isinstance(item.get("_id"), str)}
        for position, item in enumerate(incoming):
            index = _stored_index(item, position, by_id, len(stored))
            if index is not None and index < len(shown):
                restore_masked(item, stored[index], shown[index])
    return incoming


def _sent_back_masked(value: Any, stored: Any, shown: Any) -> bool:
    """True when ``value`` is the masked rendering (``shown``) of a stored string."""
    # Where the stored value is shown as it is, the place is not masked: the
    # value sent is data even if it begins with ``*``.
    return isinstance(stored, str) and shown != stored and value == shown


def _stored_index(item: Any, position: int, by_id: dict[str, int], count: int) -> int | None:
    """The index of the stored list item that ``item``, at ``position``, stands for."""
    item_id = item.get("_id") if isinstance(item, dict) else None
    # Only a string names a stored item (anything else is unhashable, or no id):
    # such an ``_id`` is the schema's to report, and the item, matched by its
    # position, keeps its masked values so that the ``_id`` is the only error.
    if isinstance(item_id, str) and item_id in by_id:
        return by_id[item_id]
    return position if position < count else None


#: What a link a client sends may be, said to the client that sent another.
LINK_RULE = ("Must be a relative reference (a path such as /contacts/contacts/1) or an https "
             "URI on a host of the institution's platform.")


def link_problem(href: str) -> str | None:
    """Why a link a client sent may not be kept and shown to others, or ``None``.

    The service shows such links to the institution (administrators' views), and
    a client that follows links sends its credentials along: a link may only be
    a relative reference (resolved on the platform's host) or an ``https`` URI on
    a host of the institution's platform (``http`` only for a development host;
    :func:`accountapps.web.http.link_target_allowed`). ``javascript:``, other
    hosts, ``//host`` references, user information and backslashes (which
    browsers read as ``/``) are refused.
    """
    if href.startswith("//") or any(c <= " " or c in "\\\x7f" for c in href):
        return LINK_RULE
    try:
        parts = urlsplit(href)
        port = parts.port
    except ValueError:
        return LINK_RULE
    if not parts.scheme:
        return None  # a relative reference: it stays on the host it is resolved on
    if "@" in parts.netloc or not link_target_allowed(parts.scheme, parts.hostname or "", port):
        return LINK_RULE
    return None
