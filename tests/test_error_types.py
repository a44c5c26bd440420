"""Every errorResponse links to a description of its type, served by the service."""

from __future__ import annotations

import ast
from pathlib import Path

import accountapps
from accountapps.domain import applications, catalog, enrollments
from accountapps.web.error_types import ERROR_TYPES
from accountapps.web.errors import _HTTP_TYPES

BASE = "/accountApplications"
PACKAGE = Path(accountapps.__file__).parent


def _raised_types() -> set[str]:
    """Every literal ``_error.type`` the code constructs an ApiError with."""
    found = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and len(node.args) >= 2
                    and getattr(node.func, "id", getattr(node.func, "attr", None)) == "ApiError"
                    and isinstance(node.args[1], ast.Constant)):
                found.add(node.args[1].value)
    return found


def test_every_error_type_the_code_raises_is_described():
    computed = {f"invalid{kind.name.capitalize()}" for kind in (applications.KIND,
                                                                enrollments.KIND)}
    computed |= {f"{kind.name}InProgress" for kind in (applications.KIND, enrollments.KIND)}
    computed |= set(_HTTP_TYPES.values()) | {"httpError", "invalidFields"}
    computed |= set(catalog._QUERY_ERRORS.values())
    assert (_raised_types() | computed) - set(ERROR_TYPES) == set()


def test_an_error_links_to_the_description_of_its_type(client):
    error = client.get(f"{BASE}/applications/nope", headers={"API-Key": "x"}).json["_error"]
    described = client.get(error["_links"]["describedby"]["href"])
    assert described.status_code == 200
    assert described.json["type"] == error["type"] == "unauthorized"
    assert described.json["status"] == 401


def test_the_catalogue_lists_every_type_without_credentials(client):
    catalogue = client.get(f"{BASE}/errors")
    assert catalogue.status_code == 200
    assert {item["type"] for item in catalogue.json["_embedded"]["items"]} == set(ERROR_TYPES)


def test_an_unknown_error_type_is_404(client):
    response = client.get(f"{BASE}/errors/noSuchError")
    assert response.status_code == 404
    assert response.json["_error"]["type"] == "notFound"


def test_the_root_links_to_the_catalogue(client):
    from conftest import API_KEY

    links = client.get(f"{BASE}/", headers={"API-Key": API_KEY}).json["_links"]
    assert links["apiture:errors"]["href"].endswith(f"{BASE}/errors")
