"""A measurement device only: the service with its events not recorded. Never deploy it.

``gunicorn bench.without_events:app`` serves the same app as ``wsgi:app``,
except that a change's event is neither built nor written: every write path
asks :meth:`accountapps.domain.lifecycle.Kind.event` for the change's event
row (creates then pass it to :func:`accountapps.domain.events.record`, the
other writes to :func:`accountapps.domain.cas.write` as ``event=``, which
writes nothing when it is ``None``). Both are replaced here, so the outbox's
whole cost — building the row (id, summary, actor) and inserting it — is
what :mod:`bench.events` measures by running this beside the real service,
alternately, in the same run.

It breaks the service's promise (one event per change): a database written by
it lacks those events. It exists for the benchmark and is never imported by
the service.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from accountapps import create_app
from accountapps.domain import events, lifecycle


def _no_event(*_args: Any, **_kwargs: Any) -> None:
    """No event row (``cas.write(event=None)`` writes none)."""
    return None


def _record_nothing(_row: Mapping[str, Any] | None) -> None:
    """Write no event row."""


def disable_events() -> None:
    """From now on, this process's changes build and write no event."""
    lifecycle.Kind.event = _no_event  # type: ignore[method-assign,assignment]
    events.record = _record_nothing  # type: ignore[assignment]


def __getattr__(name: str) -> Any:
    """``app`` (what gunicorn asks for): made on first use, so that importing
    :func:`disable_events` (``bench.profile --without-events``) makes none."""
    if name != "app":
        raise AttributeError(name)
    disable_events()
    made = globals()["app"] = create_app()
    return made
