"""The OpenAPI document states the rules of a kernel body that JSON Schema can state (SPEC §4): a
body the document allows is not refused for them, and one it refuses the server refuses too, so a
client generated from or validating against the document sends no body that ends in a 400."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/memory/identity"

# (body, whether the server takes it): the edges of each rule, from both sides.
BODIES = [
    # A product's url: an http(s) URL, or "" / spaces / null for none.
    ({"products": [{"name": "Atlas", "url": "https://atlas.example/docs"}]}, True),
    ({"products": [{"name": "Atlas", "url": "HTTP://atlas.example"}]}, True),
    ({"products": [{"name": "Atlas", "url": ""}]}, True),
    ({"products": [{"name": "Atlas", "url": "   "}]}, True),
    ({"products": [{"name": "Atlas", "url": None}]}, True),
    ({"products": [{"name": "Atlas", "url": "ftp://atlas.example"}]}, False),
    ({"products": [{"name": "Atlas", "url": "atlas.example"}]}, False),
    # Texts a section requires: a string of spaces is trimmed to nothing, and refused.
    ({"products": [{"name": "Atlas"}]}, True),
    ({"products": [{"name": "   "}]}, False),
    ({"products": [{"name": "\u00a0"}]}, False),
    ({"constraints": {"always": ["Cite sources"], "never": ["Invent APIs"]}}, True),
    ({"constraints": {"always": ["  "]}}, False),
    ({"constraints": {"never": [" \t "]}}, False),
    ({"model_preferences": {"providers": ["openai"]}}, True),
    ({"model_preferences": {"providers": [" "]}}, False),
    # Optional texts: blank means unset.
    ({"constraints": {"communication_style": "  "}}, True),
    ({"identity": {"name": "  "}}, True),
]


def document_allows(document: dict, body) -> bool:
    request = document["paths"][URL]["put"]["requestBody"]
    schema = {**request["content"]["application/json"]["schema"], "components": document["components"]}
    # With its formats checked, as a client's validator or generated model checks them.
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(body)


def test_the_document_allows_a_kernel_body_exactly_when_the_server_takes_it(write_api):
    document = write_api.get("/api/v1/openapi.json").json()

    for body, taken in BODIES:
        response = write_api.put(URL, json=body)
        assert (response.status_code == 200) is taken, (body, response.text)
        assert document_allows(document, body) is taken, body
