"""The house's rules that a reader of the code relies on (see README, "How the code is laid out").

The import direction itself is checked by import-linter (``make lint``, the
contracts in setup.cfg); these check what it cannot: views stay small and leave
the database to the domain.
"""

from __future__ import annotations

import ast
import pkgutil
from pathlib import Path

import pytest

import accountapps.resources

RESOURCES = Path(accountapps.resources.__file__).parent
MODULES = sorted(info.name for info in pkgutil.iter_modules([str(RESOURCES)]))
MAX_VIEW_LINES = 15


def _views(tree: ast.AST) -> list[ast.FunctionDef]:
    """Functions routed by a blueprint (``@blp.route``), and the helpers views call
    for their own work (``_collection``, ``_update``)."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and (
        (node.name.startswith("_") and not node.name.startswith("__"))
        or any("route" in ast.unparse(d) for d in node.decorator_list))]


def _tree(module: str) -> ast.Module:
    return ast.parse((RESOURCES / f"{module}.py").read_text())


@pytest.mark.parametrize("module", MODULES)
def test_no_view_exceeds_fifteen_lines(module):
    long = {f.name: f.end_lineno - f.lineno + 1 for f in _views(_tree(module))
            if f.end_lineno - f.lineno + 1 > MAX_VIEW_LINES}
    assert long == {}


@pytest.mark.parametrize("module", MODULES)
def test_the_resources_import_nothing_of_the_database(module):
    imported = set()
    for node in ast.walk(_tree(module)):
        if isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    database = {name for name in imported
                if name.startswith(("peewee", "playhouse", "accountapps.storage"))}
    # health asks the migrations whether the schema is current, and builds no query
    assert database <= ({"accountapps.storage"} if module == "health" else set())


def test_every_route_is_a_view_of_the_resources_or_the_apidoc(app):
    modules = {view.__module__.rsplit(".", 1)[0] for view in app.view_functions.values()}
    assert modules <= {"accountapps.resources", "accountapps.apidoc", "flask_smorest"}
