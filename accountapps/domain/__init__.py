"""The business: account applications, enrollments, and the rules they follow.

``lifecycle`` is the state machine (one transition table), ``workflow`` the
product workflows (tasks and blockers), ``catalog`` the products, ``store`` the
ownership filter and the one compare-and-set write, ``collection_query`` and
``filter_expr`` the collection queries, ``errors`` the refusals the domain raises.

May import: ``storage`` and ``auth.policy`` / ``auth.principal``. Knows no HTTP
request, no request schema and no HAL link: ``resources`` parse and render.
"""
