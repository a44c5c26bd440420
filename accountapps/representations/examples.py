"""Request examples of the OpenAPI document (clients and schemathesis start from them)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

#: The reference's createEnrollment request example, verbatim (the tests create
#: enrollments from it too: tests/enrollment_support.py).
CREATE_ENROLLMENT: dict[str, Any] = json.loads(
    resources.files("accountapps").joinpath("data/enrollment_create_example.json").read_text())
