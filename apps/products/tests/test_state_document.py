"""The OpenAPI document states the rules of a product state body that JSON Schema can state
(SPEC §5): a body the document allows is not refused for them, and one it refuses the server
refuses too."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/memory/product/Atlas/state"
DOCUMENTED = "/api/v1/memory/product/{name}/state"

# (body, whether the server takes it): list items are required texts, the handoff is optional.
BODIES = [
    ({"what_works": ["Login"], "what_is_blocked": ["Billing"], "open_questions": ["Pricing?"]}, True),
    ({"what_works": ["  "]}, False),
    ({"what_is_blocked": [" \t "]}, False),
    ({"open_questions": ["\u00a0"]}, False),
    ({"next_session_starts_here": "  "}, True),
]


def document_allows(document: dict, body) -> bool:
    request = document["paths"][DOCUMENTED]["post"]["requestBody"]
    schema = {**request["content"]["application/json"]["schema"], "components": document["components"]}
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(body)


def test_the_document_allows_a_state_body_exactly_when_the_server_takes_it(write_api):
    document = write_api.get("/api/v1/openapi.json").json()

    for body, taken in BODIES:
        response = write_api.post(URL, json=body)
        assert (response.status_code in (200, 201)) is taken, (body, response.text)
        assert document_allows(document, body) is taken, body
