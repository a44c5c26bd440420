"""The reference's own example request bodies are valid by our OpenAPI document.

``tests/data/reference_request_examples.json`` holds the six "Body parameter"
examples of the Apiture Account Applications reference (v0.18.3), extracted
verbatim: create, replace and patch an application and an enrollment. A client
validating its requests with our YAML (Prism, a generated client) must accept
what the reference itself sends; the service accepts all six.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = json.loads((ROOT / "tests" / "data" / "reference_request_examples.json").read_text())
DOCUMENT = yaml.safe_load((ROOT / "openapi" / "openapi.yaml").read_text())


def _body_schema(method: str, path: str) -> dict:
    operation = DOCUMENT["paths"][path][method.lower()]
    (media,) = operation["requestBody"]["content"].values()
    return media["schema"]


@pytest.mark.parametrize("example", EXAMPLES, ids=[f"{e['method']} {e['path']}" for e in EXAMPLES])
def test_the_references_example_body_is_valid_by_our_document(example):
    schema = {**_body_schema(example["method"], example["path"]),
              "components": DOCUMENT["components"]}
    errors = sorted(Draft202012Validator(schema).iter_errors(example["body"]), key=str)
    assert [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors] == []
