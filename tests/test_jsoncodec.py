"""The JSON codec of the hot paths (orjson) writes and reads what the standard library does."""

from __future__ import annotations

import json
from datetime import datetime

import pytest

from accountapps.storage import jsoncodec
from accountapps.storage.db import database
from accountapps.storage.models import JSONField

DOCUMENT = {"accountName": "Compte Épargne ✓", "fundingAmount": "1500.00", "count": 3,
            "ratio": 0.1, "flags": [True, False, None], "nested": {"a": [{"b": "c"}]}}
HUGE = 123456789012345678901234567890  # beyond 64 bits


def test_dumps_writes_what_the_standard_library_writes():
    expected = json.dumps(DOCUMENT, separators=(",", ":"), ensure_ascii=False)
    assert jsoncodec.dumps(DOCUMENT) == expected
    assert jsoncodec.dumps_bytes(DOCUMENT) == expected.encode()


def test_an_integer_beyond_64_bits_round_trips_exactly():
    text = jsoncodec.dumps({"n": HUGE, "m": -HUGE})
    assert jsoncodec.loads(text) == {"n": HUGE, "m": -HUGE}
    assert isinstance(jsoncodec.loads(text)["n"], int)


def test_a_long_digit_run_inside_a_string_still_loads():
    assert jsoncodec.loads('{"account": "12345678901234567890123"}') == {
        "account": "12345678901234567890123"}


def test_non_finite_numbers_load_as_the_standard_library_reads_them():
    value = jsoncodec.loads('{"a": NaN, "b": Infinity, "c": 1e400}')
    assert value["b"] == value["c"] == float("inf")
    assert value["a"] != value["a"]  # NaN


def test_invalid_json_raises_the_standard_error():
    with pytest.raises(json.JSONDecodeError):
        jsoncodec.loads('{"a": ')


def test_strict_dumps_refuses_what_is_not_json_as_the_standard_library_does():
    with pytest.raises(TypeError):
        jsoncodec.dumps({"when": datetime(2024, 1, 2)}, strict=True)


def test_a_lone_surrogate_is_written_escaped_and_reads_back():
    body = jsoncodec.dumps_bytes({"name": "a\ud800b"})
    assert body.isascii()
    assert jsoncodec.loads(body) == {"name": "a\ud800b"}


def test_int_keys_become_strings_as_in_the_standard_library():
    assert jsoncodec.dumps({1: "a"}) == json.dumps({1: "a"}, separators=(",", ":"))


@pytest.mark.parametrize("document", [DOCUMENT, {"n": HUGE}, {"name": "a\ud800b"}, []])
def test_a_stored_document_reads_back_equal(app, document):
    field = JSONField()
    with app.app_context(), database.connection_context():
        stored = database.execute_sql(f"SELECT {database.param}",
                                      [field.db_value(document)]).fetchone()[0]
    assert field.python_value(stored) == document


def test_text_holding_a_raw_lone_surrogate_loads_as_the_standard_library_reads_it():
    text = '{"name": "a\ud800b"}'
    assert jsoncodec.loads(text) == json.loads(text)


# --- copy_document ----------------------------------------------------------------

def test_copy_document_is_an_equal_independent_copy():
    copied = jsoncodec.copy_document(DOCUMENT)
    assert copied == DOCUMENT
    assert list(copied) == list(DOCUMENT)  # key order kept
    copied["nested"]["a"][0]["b"] = "changed"
    assert DOCUMENT["nested"]["a"][0]["b"] == "c"


@pytest.mark.parametrize("value", [
    {"n": HUGE},  # beyond 64 bits
    {1: "non-string key"},
    {"when": datetime(2026, 11, 22, 5, 0)},
    {"s": "lone \ud800 surrogate"},
], ids=["huge", "int-key", "datetime", "surrogate"])
def test_copy_document_copies_what_is_not_plain_json_as_deepcopy_does(value):
    copied = jsoncodec.copy_document(value)
    assert copied == value
    assert [type(k) for k in copied] == [type(k) for k in value]
    assert [type(v) for v in copied.values()] == [type(v) for v in value.values()]


def test_copy_document_keeps_a_subclass():
    class Tagged(dict):
        pass

    copied = jsoncodec.copy_document({"part": Tagged(a=1)})
    assert type(copied["part"]) is Tagged and copied["part"] == {"a": 1}
