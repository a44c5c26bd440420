"""The authenticated caller: a user acting through a client application, with scopes.

Identity only: what a principal may do is decided in :mod:`accountapps.auth.policy`
(object and role rules) and by each route's declared scope (:mod:`accountapps.auth.security`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

#: Scope levels implied by ``{domain}/full``.
_FULL_IMPLIES = ("read", "write", "delete", "readPii", "readBalance")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user acting through a client application."""

    user_id: str
    scopes: frozenset[str]
    client_id: str

    @cached_property
    def effective_scopes(self) -> frozenset[str]:
        """The token's scopes with what each ``{domain}/full`` implies."""
        expanded = set(self.scopes)
        for scope in self.scopes:
            domain, _, level = scope.partition("/")
            if level == "full":
                expanded.update(f"{domain}/{implied}" for implied in _FULL_IMPLIES)
        return frozenset(expanded)

    def has(self, scope: str) -> bool:
        """True when the token grants ``scope`` (directly or by ``*/full``)."""
        return scope in self.effective_scopes
