"""The product catalog, shipped as data in the package (``data/products.json``).

A product reference is an href whose path ends in ``/products/products/{id}``
(any scheme and host) or a bare id.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

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
    required_consents: tuple[str, ...] = ()
    required_documents: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@cache
def products() -> dict[str, Product]:
    """All products by id."""
    data = json.loads(resources.files(__package__).joinpath("data/products.json").read_text())
    catalog = {}
    for item in data["products"]:
        catalog[item["_id"]] = Product(
            id=item["_id"],
            name=item["name"],
            type=item["type"],
            currency=item["currency"],
            minimum_funding=Decimal(item["minimumFunding"]),
            maximum_funding=Decimal(item["maximumFunding"]),
            required_consents=tuple(item.get("requiredConsents", ())),
            required_documents=tuple(item.get("requiredDocuments", ())),
            raw=item,
        )
    return catalog


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


def product_href(host_url: str, product_id: str) -> str:
    """The canonical URI of a product in the neighbouring Products API."""
    return f"{host_url}/products/products/{product_id}"
