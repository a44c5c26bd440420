"""PUT/PATCH bodies load field by field, reusing unchanged fields' loads, to the same result."""

from __future__ import annotations

import copy

import pytest
from conftest import REFERENCE_CREATE_BODY
from marshmallow import ValidationError

from accountapps.representations.application import _UPDATE_SCHEMA, _load_update


@pytest.fixture(autouse=True)
def _configured(app):
    """The link rule reads the app's configuration (www.example.com is a link host)."""
    with app.app_context():
        yield


def body(**changes):
    return {**copy.deepcopy(REFERENCE_CREATE_BODY), **changes}


def test_a_document_loads_as_the_whole_schema_loads_it():
    assert _load_update(body()) == _UPDATE_SCHEMA.load(body())


def test_a_document_loaded_again_loads_the_same():
    first = _load_update(body(accountName="again"))
    assert _load_update(body(accountName="again")) == first


def test_changing_a_loaded_value_does_not_change_the_next_load():
    first = _load_update(body())
    first["applicants"][0]["contact"]["firstName"] = "Changed"
    assert _load_update(body()) == _UPDATE_SCHEMA.load(body())


def test_an_invalid_field_fails_with_the_whole_schemas_messages():
    invalid = body(applicants=[{}], accountName=17)
    _load_update(body())  # the other fields loaded before
    with pytest.raises(ValidationError) as fast:
        _load_update(invalid)
    with pytest.raises(ValidationError) as whole:
        _UPDATE_SCHEMA.load(invalid)
    assert fast.value.messages == whole.value.messages
    assert {"applicants", "accountName"} <= set(fast.value.messages)


def test_an_unknown_field_fails_as_the_whole_schema_fails():
    with pytest.raises(ValidationError) as raised:
        _load_update(body(surprise=1))
    assert "surprise" in raised.value.messages


def test_read_only_fields_are_dropped():
    loaded = _load_update(body(state="approved", _embedded={}, workflowState="x"))
    assert not {"state", "_embedded", "workflowState"} & set(loaded)
