"""Who may do what: every decision about a caller's role and a resource's owner.

Scopes say which routes a token may call (checked by :mod:`accountapps.auth.security`
from each view's ``@requires``); this module says what the caller may do there.
The domain and the representations ask here and never decide for themselves,
so a rule changes in one place. Functions take a :class:`Principal` and, where
the rule needs it, a row with ``owner`` and ``state``.
"""

from __future__ import annotations

from typing import Any

from accountapps.auth.principal import Principal

#: Who may ask for a target state: the institution only, or the resource's owner
#: (and the institution).
INSTITUTION, OWNER = "institution", "owner"


def is_institution(principal: Principal) -> bool:
    """Acts for the financial institution (``admin/write`` or ``admin/full``)."""
    return principal.has("admin/write")


def may_read_audit(principal: Principal) -> bool:
    """May read any owner's audit trails: the institution or an auditor (``admin/read``)."""
    return is_institution(principal) or principal.has("admin/read")


def may_read_record(principal: Principal, row: Any) -> bool:
    """May download the printable record of ``row``: its owner, the institution, auditors.

    What the record shows is still what each of them may read: personal data as
    :func:`may_read_pii` allows, the audit trail as :func:`may_read_audit` allows.
    """
    return row.owner == principal.user_id or may_read_audit(principal)


def may_read_pii(principal: Principal) -> bool:
    """May see tax ids, full account numbers and other personal data unmasked."""
    return principal.has("profiles/readPii")


def visible_owner(principal: Principal) -> str | None:
    """The owner whose resources ``principal`` sees (``None``: every owner's)."""
    return None if is_institution(principal) else principal.user_id


def may_act(who: str, principal: Principal, row: Any) -> bool:
    """True when ``principal`` may ask for a state change open to ``who`` on ``row``."""
    if who == INSTITUTION:
        return is_institution(principal)
    return is_institution(principal) or row.owner == principal.user_id


def may_delete_application(principal: Principal, row: Any) -> bool:
    """The applicant while the application is ``pending``; the institution once ``expired``."""
    if is_institution(principal):
        return row.state == "expired"
    return row.owner == principal.user_id and row.state == "pending"


def may_give_institution_input(principal: Principal) -> bool:
    """Identity-verification results and document reviews are the institution's."""
    return is_institution(principal)


def may_write_institution_fields(principal: Principal) -> bool:
    """Approvals, required documents, review flags and verification results in a body
    are the institution's; anyone else's values for them are ignored."""
    return is_institution(principal)


def may_seed(principal: Principal) -> bool:
    """May create an application with initial data from an external source, its
    ``state`` included (a "pre-approved" application): the institution only.
    Anyone else's ``state`` in a create body is ignored."""
    return is_institution(principal)


def may_waive(principal: Principal, blocker: Any) -> bool:
    """May settle ``blocker`` by deciding instead of waiting on it.

    The institution's own remaining tasks (identity verifications, document
    reviews: blockers whose ``actor`` is the institution) are settled by an
    institution's approval, and recorded as waived by the approver; what waits
    on the applicant never is.
    """
    return is_institution(principal) and isinstance(blocker, dict) and blocker.get(
        "actor") == INSTITUTION


def may_delete_enrollment(principal: Principal, row: Any) -> bool:
    """Its owner, in every state, and the institution (the reference gives deleteEnrollment
    no other outcome than ``204``); the audit trail outlives it."""
    return is_institution(principal) or row.owner == principal.user_id


def may_read_events(principal: Principal) -> bool:
    """The event feed and the webhook subscriptions: the institution or an auditor."""
    return is_institution(principal) or principal.has("admin/read")


def may_manage_webhooks(principal: Principal) -> bool:
    """Subscribing, changing, deleting webhooks and redelivering: the institution."""
    return is_institution(principal)
