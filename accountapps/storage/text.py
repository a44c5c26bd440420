"""Text that no database here can store."""

from __future__ import annotations

import re

#: What no stored text can hold: U+0000 and a lone UTF-16 surrogate.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def unstorable(text: str) -> bool:
    """True if ``text`` holds U+0000 or a lone surrogate, which no database here stores."""
    return _UNSTORABLE.search(text) is not None
