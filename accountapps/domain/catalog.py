"""The product catalog, shipped as data in the package (``data/products.json``).

A product reference is an href whose path ends in ``/products/products/{id}``
(the reference's Products API, any scheme and host), one whose path ends in
``/accountApplications/products/{id}`` (this service's own catalog resources),
or a bare id.

An institution may run its own catalog: ``ACCOUNTAPPS_CATALOG_FILE`` names a
JSON file of the same shape. It is re-read when the file changes, so a product's
workflow can change while the service runs; applications already started keep
the workflow they snapshotted (see :mod:`accountapps.domain.workflow`).

Each product says whom it is offered to: ``applicantTypes`` (``individual``,
``business``; by default the one its ``type`` implies) and ``countries`` (ISO
3166-1 alpha-2 codes; by default ``["US"]``). Each load gives every product a
content version (a hash of its JSON) and the catalog one (of all of them): the
catalog resources' ETags.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import cache, lru_cache
from importlib import resources
from typing import Any

from flask import current_app, has_app_context

from accountapps.domain import workflow
from accountapps.domain.collection_query import Page, alternatives, list_page
from accountapps.domain.errors import ApiError

log = logging.getLogger(__name__)

_PRODUCT_PATH = re.compile(
    r"/(?:products|accountApplications)/products/([^/?#]+)/?(?:[?#].*)?$")
_BARE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

PRODUCT_TYPES = ("personal", "business")
#: whom a product is offered to when the catalog does not say: by its type
DEFAULT_APPLICANT_TYPES = {"personal": ["individual"], "business": ["business"]}
DEFAULT_COUNTRIES = ["US"]


@dataclass(frozen=True)
class Product:
    """One banking product of the catalog."""

    id: str
    name: str
    type: str  # "personal" | "business"
    currency: str
    minimum_funding: Decimal
    maximum_funding: Decimal
    #: whom it is offered to
    applicant_types: tuple[str, ...] = ()
    countries: tuple[str, ...] = ()
    #: a hash of the product's catalog entry: changes whenever the entry does
    version: str = ""
    #: the validated workflow definition: {"_id", "version", "tasks": [...]}
    workflow: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


@dataclass(frozen=True)
class Catalog:
    """The products as one load of the catalog found them, and that load's version."""

    products: dict[str, Product]
    version: str


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _offer(item: Mapping[str, Any], key: str, default: list[str], valid: Any,
           where: str) -> tuple[str, ...]:
    values = item.get(key, default)
    if (not isinstance(values, list) or not values or not all(valid(v) for v in values)
            or len(set(values)) != len(values)):
        what = ("individual or business" if key == "applicantTypes"
                else "ISO 3166-1 alpha-2 codes")
        raise ValueError(f"{where}: {key} must be a non-empty list, without repeats, of {what}")
    return tuple(values)


def _product(item: Mapping[str, Any], source: str) -> Product:
    where = f"{source}: product {item.get('_id')!r}"
    if not isinstance(item.get("_id"), str) or not _BARE_ID.match(item["_id"]):
        raise ValueError(f"{where}: _id must be 1 to 64 letters, digits, '_', '.' or '-'")
    if item.get("type") not in PRODUCT_TYPES:
        raise ValueError(f"{where}: type must be personal or business")
    applicant_types = _offer(item, "applicantTypes", DEFAULT_APPLICANT_TYPES[item["type"]],
                             lambda v: v in workflow.APPLICANT_TYPES, where)
    countries = _offer(item, "countries", DEFAULT_COUNTRIES, workflow.is_country_code, where)
    return Product(
        id=item["_id"],
        name=item["name"],
        type=item["type"],
        currency=item["currency"],
        minimum_funding=Decimal(item["minimumFunding"]),
        maximum_funding=Decimal(item["maximumFunding"]),
        applicant_types=applicant_types,
        countries=countries,
        version=_digest(item),
        workflow=workflow.validate_definition(item.get("workflow"), where,
                                              applicant_types=applicant_types,
                                              countries=countries),
        raw=item,
    )


def _parse(text: str, source: str) -> Catalog:
    data = json.loads(text)
    catalog: dict[str, Product] = {}
    for item in data["products"]:
        product = _product(item, source)
        if product.id in catalog:
            raise ValueError(f"{source}: product {product.id!r} is listed twice")
        catalog[product.id] = product
    return Catalog(catalog, _digest([p.version for p in catalog.values()]))


@cache
def _packaged() -> Catalog:
    text = resources.files(__package__).joinpath("data/products.json").read_text()
    return _parse(text, "data/products.json")


@lru_cache(maxsize=4)
def _from_file(path: str, mtime_ns: int, size: int) -> Catalog | ValueError:
    """The catalog in the file as it is, or why it is not one (logged once, not raised:
    a failure is kept as well as a success, so that a broken file is read once)."""
    # Keyed by modification time and size: an edited file is read again.
    try:
        with open(path, encoding="utf-8") as handle:
            return _parse(handle.read(), path)
    except (OSError, ValueError, KeyError, TypeError, ArithmeticError) as exc:
        problem = ValueError(f"{path}: not a product catalog: {exc!r}")
        log.error("%s; the last catalog read is kept", problem)
        return problem


#: path -> the last catalog read from it: kept while the file is broken (being rewritten
#: in place, or badly edited), so that one bad save does not refuse every application.
_LAST_GOOD: dict[str, Catalog] = {}


def current() -> Catalog:
    """The catalog now (from ``ACCOUNTAPPS_CATALOG_FILE`` when it is set).

    A file that cannot be read as a catalog leaves the last one read in force
    (the error is logged); with none read before (at start-up), it is raised.
    """
    path = current_app.config.get("ACCOUNTAPPS_CATALOG_FILE") if has_app_context() else None
    if not path:
        return _packaged()
    try:
        stat = os.stat(path)
        loaded = _from_file(path, stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        loaded = ValueError(f"{path}: not a product catalog: {exc!r}")
    if isinstance(loaded, Catalog):
        _LAST_GOOD[path] = loaded
        return loaded
    if path in _LAST_GOOD:
        return _LAST_GOOD[path]
    raise loaded


def products() -> dict[str, Product]:
    """All products by id, in catalog order."""
    return current().products


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


# --- the catalog as resources ----------------------------------------------------

def find(product_id: str) -> Product:
    """The product ``product_id``, or ``404``."""
    product = products().get(product_id)
    if product is None:
        raise ApiError(404, "notFound", f"There is no product {product_id[:100]!r}.",
                       attributes={"id": product_id[:100]})
    return product


def page(catalog: Catalog, query: Mapping[str, str], *, max_limit: int) -> Page:
    """One page of ``catalog``'s products: ``start``, ``limit`` and ``type=a|b``."""
    types = alternatives(query, "type", PRODUCT_TYPES)
    items = [p for p in catalog.products.values() if types is None or p.type in types]
    return list_page(items, query, max_limit=max_limit,
                     params={} if types is None else {"type": query["type"]})


@dataclass(frozen=True)
class Requirements:
    """What a product requires of one kind of applicant (:func:`workflow.requirements`)."""

    product: Product
    #: the definition an application made now would snapshot
    definition: dict[str, Any]
    profile: workflow.Profile
    items: list[dict[str, Any]]


#: a profile problem -> the error type of a query parameter
_QUERY_ERRORS = {workflow.MISSING: "missingQueryParameter",
                 workflow.MALFORMED: "invalidQueryParameter",
                 workflow.NOT_OFFERED: "productNotOffered"}


def requirements(product_id: str, query: Mapping[str, str]) -> Requirements:
    """What product ``product_id`` requires of an applicant of ``?applicantType=`` in
    ``?country=`` (either may be left out when the product is offered to one only).

    ``400`` for a missing or malformed parameter, ``422`` for an applicant the
    product is not offered to: the same rules as creating an application.
    """
    product = find(product_id)
    definition = workflow.snapshot(product)
    try:
        profile = workflow.applicant_profile(definition, query.get("applicantType"),
                                             query.get("country"))
    except workflow.ProfileError as exc:
        raise ApiError(
            exc.status, _QUERY_ERRORS[exc.reason],
            f"The query parameter {exc.name!r}: {exc.message}",
            attributes={"name": exc.name, "offered": exc.offered},
            remediation=f"Give {exc.name} as one of {', '.join(exc.offered or [])}.",
        ) from exc
    return Requirements(product, definition, profile,
                        workflow.requirements(definition, profile))
