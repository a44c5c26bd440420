"""The product catalog, shipped as data in the package (``data/products.json``).

A product reference is an href whose path ends in ``/products/products/{id}``
(any scheme and host) or a bare id.

An institution may run its own catalog: ``ACCOUNTAPPS_CATALOG_FILE`` names a
JSON file of the same shape. It is re-read when the file changes, so a product's
workflow can change while the service runs; applications already started keep
the workflow they snapshotted (see :mod:`accountapps.domain.workflow`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from flask import current_app, has_app_context

from accountapps.domain import workflow

_PRODUCT_PATH = re.compile(r"/products/products/([^/?#]+)/?(?:[?#].*)?$")
_BARE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Product:
    """One banking product of the catalog."""

    id: str
    name: str
    type: str  # "personal" | "business"
    currency: str
    minimum_funding: Decimal
    maximum_funding: Decimal
    #: the validated workflow definition: {"_id", "version", "tasks": [...]}
    workflow: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def required_consents(self) -> tuple[str, ...]:
        """The consent types the product's workflow requires."""
        return tuple(t["consent"] for t in self.workflow["tasks"] if t["type"] == "consent")

    @property
    def required_documents(self) -> tuple[str, ...]:
        """The document types the product's workflow requires."""
        return tuple(t["document"] for t in self.workflow["tasks"] if t["type"] == "document")


def _parse(text: str, source: str) -> dict[str, Product]:
    data = json.loads(text)
    catalog = {}
    for item in data["products"]:
        catalog[item["_id"]] = Product(
            id=item["_id"],
            name=item["name"],
            type=item["type"],
            currency=item["currency"],
            minimum_funding=Decimal(item["minimumFunding"]),
            maximum_funding=Decimal(item["maximumFunding"]),
            workflow=workflow.validate_definition(
                item.get("workflow"), f"{source}: product {item['_id']}"),
            raw=item,
        )
    return catalog


@cache
def _packaged() -> dict[str, Product]:
    text = resources.files(__package__).joinpath("data/products.json").read_text()
    return _parse(text, "data/products.json")


@lru_cache(maxsize=4)
def _from_file(path: str, mtime_ns: int, size: int) -> dict[str, Product]:
    # Keyed by modification time and size: an edited file is read again.
    with open(path, encoding="utf-8") as handle:
        return _parse(handle.read(), path)


def products() -> dict[str, Product]:
    """All products by id (from ``ACCOUNTAPPS_CATALOG_FILE`` when it is set)."""
    path = current_app.config.get("ACCOUNTAPPS_CATALOG_FILE") if has_app_context() else None
    if not path:
        return _packaged()
    stat = os.stat(path)
    return _from_file(path, stat.st_mtime_ns, stat.st_size)


def product_id_from_ref(ref: str) -> str | None:
    """The product id a reference names, or ``None`` if it is not a product reference."""
    ref = ref.strip()
    match = _PRODUCT_PATH.search(ref)
    if match:
        return match.group(1)
    if _BARE_ID.match(ref):
        return ref
    return None


def resolve(ref: str) -> Product | None:
    """The catalog product a reference names, or ``None``."""
    product_id = product_id_from_ref(ref)
    return products().get(product_id) if product_id else None
