"""A URL's query is percent-encoded UTF-8 whatever the body's encoding (RFC 3986 §2.5; the JSON
parser reads bodies as UTF-8 too, RFC 8259 §8.1): a ``charset`` in the Content-Type, even a wrong
one, changes neither the names nor the values of the query parameters. Django decodes the query
with that charset unless told otherwise (``ApiErrorMiddleware``)."""

from __future__ import annotations

import json
import uuid

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

CHARSETS = ["latin-1", "utf-16", "cp1252"]


@pytest.fixture
def cafe(write_api):
    made = write_api.post("/api/v1/memory/decisions", json={"decision": "Café decision", "product_name": "Café"})
    assert made.status_code == 201, made.text
    return write_api


@pytest.mark.parametrize("charset", CHARSETS)
def test_a_body_charset_does_not_change_a_query_value(cafe, charset):
    headers = {"Content-Type": f"application/json; charset={charset}"}
    found = cafe.get("/api/v1/memory/decisions/search?product=Caf%C3%A9", headers=headers)
    assert found.status_code == 200 and found.json()["count"] == 1, found.text
    export = cafe.get("/api/v1/kernel/export?product=Caf%C3%A9&format=json", headers=headers)
    assert export.status_code == 200, export.text


@pytest.mark.parametrize("charset", CHARSETS)
def test_a_body_charset_does_not_change_a_query_name(write_api, charset):
    """Read as UTF-16, ``dry_run=true`` was one unknown name; without that check the import would have written."""
    memory = {"id": str(uuid.uuid4()), "content": "not for real", "created_at": "2026-01-01T00:00:00Z"}
    body = json.dumps({"mif_version": "2.0", "memories": [memory]})
    response = write_api.post(
        "/api/v1/memory/import-mif?dry_run=true",
        data=body.encode(),
        headers={"Content-Type": f"application/json; charset={charset}"},
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["dry_run"] is True and report["memories_imported"] == 1, report
    assert write_api.get("/api/v1/memory/search?q=real").json()["count"] == 0


@pytest.mark.parametrize("charset", CHARSETS)
def test_a_form_content_type_does_not_change_the_query_of_the_rest_api(cafe, write_api, charset):
    """The REST API reads no form: a form's Content-Type, with or without a body, changes no query
    (``product=Café`` read as "CafÃ©" was an empty search and a 404)."""
    form = {"Content-Type": f"application/x-www-form-urlencoded; charset={charset}"}
    found = cafe.get("/api/v1/memory/decisions/search?product=Caf%C3%A9", headers=form)
    assert found.status_code == 200 and found.json()["count"] == 1, found.text
    export = cafe.get("/api/v1/kernel/export?product=Caf%C3%A9&format=json", headers=form)
    assert export.status_code == 200, export.text
    posted = write_api.post("/api/v1/memory/import-mif?dry_run=true", data=b"a=b", headers=form)
    assert posted.status_code == 415, posted.text


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/api/v1/memory/decisions/search?product=Caf%E9", "product"),
        ("/api/v1/memory/decisions/search?tags=caf%E9", "tags"),
        ("/api/v1/memory/search?q=Caf%E9", "q"),
        ("/api/v1/kernel/export?format=json&product=Caf%E9", "product"),
        ("/api/v1/memory/products?limit=5&offset=0%FF", "offset"),
    ],
)
def test_a_query_value_whose_bytes_are_not_utf8_is_refused_naming_it(write_api, path, name):
    """As a product path's are (``/memory/product/Caf%E9/state``): read with U+FFFD for the byte,
    ``product=Caf%E9`` (a Latin-1 é) searched another product, one whose name holds U+FFFD."""
    made = write_api.post("/api/v1/memory/decisions", json={"decision": "Caf\ufffd x", "product_name": "Caf\ufffd"})
    assert made.status_code == 201, made.text
    response = write_api.get(path)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["fields"] == {name: ["Not UTF-8: percent-encode the UTF-8 bytes of this parameter."]}


def test_a_query_name_whose_bytes_are_not_utf8_is_refused_too(write_api):
    response = write_api.post("/api/v1/memory/consolidate?dry_run%E9=true", json={})
    assert response.status_code == 400, response.text
    fields = response.json()["error"]["details"]["fields"]
    assert fields == {"dry_run\ufffd": ["Not UTF-8: percent-encode the UTF-8 bytes of this parameter."]}


def test_percent_signs_that_escape_nothing_and_utf8_escapes_are_read_as_before(write_api):
    assert write_api.get("/api/v1/memory/search?q=100%25+sure").status_code == 200
    assert write_api.get("/api/v1/memory/search?q=%ZZ").status_code == 200
    assert write_api.get("/api/v1/memory/search?q=Caf%C3%A9+%F0%9F%98%80").status_code == 200
