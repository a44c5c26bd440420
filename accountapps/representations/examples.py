"""Request examples of the OpenAPI document (clients and schemathesis start from them)."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

from marshmallow import Schema, fields

from accountapps.representations.enrollment import EnrollmentWriteSchema

#: The reference's createEnrollment request example, verbatim (the tests create
#: enrollments from it too: tests/enrollment_support.py).
CREATE_ENROLLMENT: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("data/enrollment_create_example.json").read_text())


def writable(schema: Schema, data: Any) -> Any:
    """``data`` without what ``schema`` does not document as writable.

    The service accepts and ignores the server's fields (``readOnly``) and HAL's
    ``_profile``/``_embedded``, so a client can send back what it fetched; but a
    request example must validate against the request schema, where a
    ``readOnly`` property may not appear (schemathesis skips such an example).
    """
    if not isinstance(data, dict):
        return data
    by_key = {field.data_key or name: field for name, field in schema.fields.items()}
    kept = {}
    for key, value in data.items():
        field = by_key.get(key)
        if field is None or field.dump_only:
            continue
        if isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
            value = writable(field.schema, value)
        elif (isinstance(field, fields.List) and isinstance(field.inner, fields.Nested)
              and isinstance(value, list)):
            value = [writable(field.inner.schema, item) for item in value]
        kept[key] = value
    return kept


#: The example of createEnrollment: the reference's, as a client would send it.
CREATE_ENROLLMENT_EXAMPLE: dict[str, Any] = writable(EnrollmentWriteSchema(), CREATE_ENROLLMENT)
