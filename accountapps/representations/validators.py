"""Field validators shared by every representation."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from marshmallow import ValidationError

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

_DECIMAL = re.compile(r"^\d{1,15}(\.\d{1,4})?$")
MAX_AMOUNT = Decimal("999999999999.99")


def currency(value: str) -> None:
    """An ISO 4217 currency code."""
    if value not in CURRENCIES:
        raise ValidationError("Must be an ISO 4217 currency code, such as USD.")


def decimal_string(value: str) -> None:
    """A non-negative decimal amount written as a string (``"1500.00"``)."""
    if not _DECIMAL.match(value):
        raise ValidationError("Must be a non-negative decimal string such as \"1500.00\".")


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


def routing_number(value: str) -> None:
    """A 9-digit ABA routing transit number with a valid checksum."""
    if len(value) != 9 or not value.isdigit():
        raise ValidationError("Must be a 9-digit ABA routing number.")
    d = [int(c) for c in value]
    total = 3 * (d[0] + d[3] + d[6]) + 7 * (d[1] + d[4] + d[7]) + (d[2] + d[5] + d[8])
    if total % 10:
        raise ValidationError("Is not a valid ABA routing number (checksum mismatch).")


def account_number(value: str) -> None:
    """A bank account number: 4 to 17 digits.

    The masked form the service renders (``******3210``) passes too, so that a
    client can send back what it fetched; the domain then keeps the stored
    number, or refuses a masked value that replaces nothing.
    """
    if is_masked(value) and len(value) <= 32 and value.lstrip("*").isdigit():
        return
    if not (4 <= len(value) <= 17 and value.isdigit()):
        raise ValidationError("Must be 4 to 17 digits.")


def mask(value: str | None, visible: int = 4) -> str | None:
    """``*****3333``: all but the last ``visible`` characters hidden."""
    if value is None:
        return None
    tail = value[-visible:] if len(value) > visible else ""
    return "*" * max(len(value) - len(tail), 5) + tail


def is_masked(value: object) -> bool:
    """True for a value the service produced by :func:`mask`."""
    return isinstance(value, str) and value.startswith("*")


#: What a fully hidden value looks like (an address line, a birthdate).
REDACTED = "*****"


def mask_email(value: str | None) -> str | None:
    """``*****@apiture.com``: the mailbox hidden, the domain kept."""
    if value is None:
        return None
    _local, at, domain = value.rpartition("@")
    return f"{REDACTED}@{domain}" if at else REDACTED


def restore_masked(incoming: Any, stored: Any) -> Any:
    """Replace each masked value of ``incoming`` by the stored value at the same place.

    A client without PII access sends back what it fetched; its masked values
    (``*****3333``) mean "unchanged". List items are matched by ``_id`` when
    they have one, else by position. Masked values with no stored counterpart
    are left for validation to reject.
    """
    if isinstance(incoming, dict) and isinstance(stored, dict):
        for key, value in incoming.items():
            if is_masked(value) and isinstance(stored.get(key), str):
                incoming[key] = stored[key]
            else:
                restore_masked(value, stored.get(key))
    elif isinstance(incoming, list) and isinstance(stored, list):
        by_id = {item.get("_id"): item for item in stored
                 if isinstance(item, dict) and item.get("_id") is not None}
        for index, item in enumerate(incoming):
            match = by_id.get(item.get("_id")) if isinstance(item, dict) else None
            if match is None and index < len(stored):
                match = stored[index]
            restore_masked(item, match)
    return incoming
