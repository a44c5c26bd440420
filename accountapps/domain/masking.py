"""How personal data is masked, and the rule that a mask is not data.

The representations render tax ids, account numbers and contact details
masked for a reader without ``profiles/readPii``; a client that sends such a
value back means "unchanged", and a masked-looking value that stands for no
stored value is refused.
"""

from __future__ import annotations


def mask(value: str | None, visible: int = 4) -> str | None:
    """``*****3333``: all but the last ``visible`` characters hidden."""
    if value is None:
        return None
    tail = value[-visible:] if len(value) > visible else ""
    return "*" * max(len(value) - len(tail), 5) + tail


def is_masked(value: object) -> bool:
    """True for a value that looks masked (begins with ``*``), as :func:`mask` renders one.

    Where only a stored value may be masked (an account number, a tax id), such
    a value is not data: it is refused unless it is the stored value's mask.
    """
    return isinstance(value, str) and value.startswith("*")


def is_mask_of(value: object, stored: object) -> bool:
    """True when ``value`` is exactly what :func:`mask` shows for ``stored``."""
    return isinstance(stored, str) and bool(stored) and value == mask(stored)


#: What a fully hidden value looks like (an address line, a birthdate).
REDACTED = "*****"


def mask_email(value: str | None) -> str | None:
    """``*****@apiture.com``: the mailbox hidden, the domain kept."""
    if value is None:
        return None
    _local, at, domain = value.rpartition("@")
    return f"{REDACTED}@{domain}" if at else REDACTED
