"""Rendering one page of any collection, with its paging links."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accountapps.domain.collection_query import Page
from accountapps.web import hal


def render_page(
    page: Page, *, name: str, path: str, profile: str, item: Callable[[Any], dict]
) -> dict[str, Any]:
    """A HAL collection: ``start``, ``limit``, ``count``, page links and summaries."""

    def href(start: int, limit: int = page.limit) -> str:
        return hal.api_url(path, {**page.params, "start": start, "limit": limit})

    links = {"self": hal.link(href(page.start)), "first": hal.link(href(0))}
    if page.limit and page.start + page.limit < page.count:
        links["next"] = hal.link(href(page.start + page.limit))
    if page.start > 0:
        # The items just before this page (the last page, if it starts past the
        # end); fewer than ``limit`` when it starts nearer the front than that,
        # so that walking back by ``prev`` never sees an item twice.
        end = min(page.start, page.count)
        start = max(0, end - page.limit)
        links["prev"] = hal.link(href(start, max(1, end - start) if page.limit else 0))
    links["collection"] = hal.link(hal.api_url(path))
    return {
        "_profile": hal.profile(profile),
        "name": name,
        "start": page.start,
        "limit": page.limit,
        "count": page.count,
        "_links": links,
        "_embedded": {"items": [item(row) for row in page.rows]},
    }
