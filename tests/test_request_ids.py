"""Request ids: a sane ``X-Request-ID`` is kept, otherwise one is generated."""

from __future__ import annotations

import re


def test_a_generated_request_id_is_32_hex_digits(user):
    request_id = user.get("/applications").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", request_id)


def test_each_request_gets_its_own_request_id(user):
    assert user.get("/applications").headers["X-Request-ID"] != \
        user.get("/applications").headers["X-Request-ID"]


def test_an_offered_request_id_is_kept(user):
    response = user.get("/applications", headers={"X-Request-ID": "trace:abc-123.4"})
    assert response.headers["X-Request-ID"] == "trace:abc-123.4"


def test_an_offered_request_id_with_other_characters_is_replaced(user):
    response = user.get("/applications", headers={"X-Request-ID": "bad id with spaces"})
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


def test_an_error_names_the_request_id_of_its_response(user):
    response = user.get("/applications/00000000-0000-4000-8000-000000000000")
    assert response.status_code == 404
    assert response.json["_error"]["_id"] == response.headers["X-Request-ID"]
