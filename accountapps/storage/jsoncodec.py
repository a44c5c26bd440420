"""JSON for the service's own hot paths: response bodies, stored documents, caches.

The standard library's encoder and decoder are pure Python around a C scanner;
orjson does the same work faster (a stored document is ~2 KB,
decoded on every read and encoded on every write; a page's body is ~40 KB).
The output is the same JSON: compact, UTF-8, keys in insertion order.

Where orjson differs from the standard library, the standard library does
the work: orjson refuses to write integers beyond 64 bits and reads them as
floats, and it refuses ``NaN``; so such values still round-trip exactly.
Request bodies are still parsed by Flask's provider (the standard library),
so a malformed body is refused exactly as before.
"""

from __future__ import annotations

import json
from copy import deepcopy
from typing import Any

import orjson

_OPTIONS = orjson.OPT_NON_STR_KEYS
#: Only JSON's own types: a ``datetime``, dataclass or subclass raises ``TypeError``
#: as ``json.dumps`` does, instead of becoming a string that would load back as one.
_STRICT = (_OPTIONS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
           | orjson.OPT_PASSTHROUGH_SUBCLASS)


def dumps_bytes(value: Any, *, strict: bool = False) -> bytes:
    """``value`` as compact UTF-8 JSON.

    ``strict``: raise ``TypeError`` for anything that is not a JSON type (for
    values that must load back equal), as the standard library would.
    """
    try:
        return orjson.dumps(value, option=_STRICT if strict else _OPTIONS)
    except TypeError:
        # Integers beyond 64 bits, lone surrogates, subclasses in strict mode:
        # the standard library's answer (a result, or the same TypeError),
        # escaped to ASCII so that any string it holds can be sent.
        return json.dumps(value, separators=(",", ":")).encode()


def dumps(value: Any, *, strict: bool = False) -> str:
    """``value`` as compact JSON text (see :func:`dumps_bytes`)."""
    return dumps_bytes(value, strict=strict).decode()


#: A run of 19 digits: it could be an integer orjson would read as a float
#: (beyond 64 bits). Usually it is inside a string (an account number): the
#: standard library then reads the document, correctly, a little slower. Found
#: by mapping every digit to 9 and everything else to a space (bytes.translate
#: and a substring search, cheaper than a regular expression).
_DIGITS_AS_NINES = bytes(0x39 if 0x30 <= byte <= 0x39 else 0x20 for byte in range(256))
_LONG_NUMBER = b"9" * 19


def loads(text: str | bytes) -> Any:
    """The value of a JSON document, exactly as ``json.loads`` reads it."""
    data = text.encode(errors="surrogatepass") if isinstance(text, str) else text
    if _LONG_NUMBER not in data.translate(_DIGITS_AS_NINES):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # NaN, Infinity, 1e400: the standard library's reading, or its error
    return json.loads(text)


#: JSON's types only, string keys only: anything else raises ``TypeError``.
_COPY = (orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS
         | orjson.OPT_PASSTHROUGH_SUBCLASS)


def copy_document(value: Any) -> Any:
    """A deep copy of a stored document (or any part of one), for a change to work on.

    What ``copy.deepcopy`` returns, through orjson (cheaper).
    Anything that is not plain JSON (integers beyond 64 bits,
    non-string keys, subclasses, lone surrogates) goes to ``copy.deepcopy``.
    A non-finite float would become ``null``, as storing it does: documents
    hold none (request bodies with one are refused, ``bodies.RequestJSON``).
    """
    try:
        return orjson.loads(orjson.dumps(value, option=_COPY))
    except TypeError:
        return deepcopy(value)
