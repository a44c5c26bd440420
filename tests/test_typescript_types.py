"""openapi-typescript's types of the committed OpenAPI document compile under strict tsc.

``ACCOUNTAPPS_TEST_TYPESCRIPT`` names an npm install directory holding the
``openapi-typescript`` and ``typescript`` packages (.ci/run prepares one);
without it the tests are skipped, saying why.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from live_server import ROOT

pytestmark = pytest.mark.own_database

#: A client's use of the types: a create body, its 201 answer, a component.
USE = """\
import type { components, paths } from "./api";

type CreateBody =
  paths["/applications"]["post"]["requestBody"]["content"]["application/json"];
type Created =
  paths["/applications"]["post"]["responses"][201]["content"]["application/hal+json"];
type Approved =
  paths["/approvedApplications"]["post"]["responses"][200]["content"]["application/hal+json"];
type Application = components["schemas"]["application"];

export const body: CreateBody = {
  accountName: "My checking account",
  _links: {
    "apiture:product": { href: "/products/products/51df9a81-2cb8-4515-aad1-9543b3c4fc18" },
  },
  fundingAmount: { value: "1500.00", currency: "USD" },
};

export function stateOf(application: Created | Approved): Application["state"] {
  const same: Application = application;
  return same.state;
}
"""


def _bin(name: str) -> Path:
    install = os.environ.get("ACCOUNTAPPS_TEST_TYPESCRIPT")
    if not install:
        pytest.skip("openapi-typescript and typescript not installed (.ci/run installs them "
                    "with npm; ACCOUNTAPPS_TEST_TYPESCRIPT names the install directory)")
    return Path(install) / "node_modules" / ".bin" / name


def _compile(tmp_path: Path, use: str) -> subprocess.CompletedProcess:
    generator = _bin("openapi-typescript")
    generated = subprocess.run(
        [str(generator), str(ROOT / "openapi" / "openapi.yaml"), "-o", str(tmp_path / "api.d.ts")],
        capture_output=True, text=True, timeout=300)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    (tmp_path / "use.ts").write_text(use)
    return subprocess.run(
        [str(_bin("tsc")), "--strict", "--noEmit", "--target", "es2022", "--module", "nodenext",
         "--moduleResolution", "nodenext", str(tmp_path / "use.ts")],
        capture_output=True, text=True, timeout=300, cwd=tmp_path)


def test_the_generated_types_compile_under_strict_tsc(tmp_path):
    compiled = _compile(tmp_path, USE)
    assert compiled.returncode == 0, compiled.stdout + compiled.stderr


def test_strict_tsc_refuses_a_body_the_document_refuses(tmp_path):
    """The check can fail: a number where the document says string does not compile."""
    compiled = _compile(tmp_path, USE.replace('accountName: "My checking account"',
                                              "accountName: 5"))
    assert compiled.returncode != 0
    assert "accountName" in compiled.stdout or "TS2322" in compiled.stdout
