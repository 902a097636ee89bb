"""A token that may write product states but not read them learns nothing of a state it did not send."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from apps.mcp.tests.conftest import Mcp
from apps.products.tests.test_product_state_api import state_path

pytestmark = pytest.mark.django_db(transaction=True)

WRITE_ONLY_KEYS = {"name", "version", "updated_at", "scope"}


@pytest.fixture
def atlas(client_for, person):
    body = {"status": "blocked", "what_works": ["login"], "next_session_starts_here": "the secret handoff"}
    assert client_for(person).post(state_path("Atlas"), json=body).status_code == 201


def test_a_write_only_token_is_answered_only_what_it_sent(atlas, oauth_for):
    writer = oauth_for("memory:write")
    assert writer.get(state_path("Atlas")).status_code == 403

    empty = writer.post(state_path("atlas"), json={})
    assert empty.status_code == 200, empty.text
    assert set(empty.json()) == WRITE_ONLY_KEYS
    assert empty.json()["name"] == "Atlas" and empty.json()["version"] == 1 and empty.json()["scope"] == "personal"
    assert empty.headers["ETag"] == '"1"'

    sent = writer.post(state_path("Atlas"), json={"open_questions": [" pricing? "], "status": "active"})
    assert sent.status_code == 200, sent.text
    assert set(sent.json()) == WRITE_ONLY_KEYS | {"open_questions", "status"}
    assert sent.json()["open_questions"] == ["pricing?"] and sent.json()["status"] == "active"
    assert sent.json()["version"] == 2 and sent.headers["ETag"] == '"2"'


def test_a_token_that_can_read_still_gets_the_whole_state(atlas, oauth_for):
    both = oauth_for("memory:read memory:write")
    body = both.post(state_path("Atlas"), json={}).json()
    assert body["what_works"] == ["login"] and body["next_session_starts_here"] == "the secret handoff"
    assert body["recent_decisions"] == []


def test_the_mcp_tool_answers_a_write_only_token_the_same_way(atlas, oauth_for, base_url):
    writer = Mcp(base_url, oauth_for("memory:write").token)
    empty = writer.tool("update_product_state", {"product_name": "Atlas"})
    assert set(empty) == WRITE_ONLY_KEYS | {"created"}
    assert empty["created"] is False and empty["version"] == 1

    sent = writer.tool("update_product_state", {"product_name": "Atlas", "what_is_blocked": ["billing"]})
    assert set(sent) == WRITE_ONLY_KEYS | {"created", "what_is_blocked"} and sent["what_is_blocked"] == ["billing"]

    reader = Mcp(base_url, oauth_for("memory:read memory:write").token)
    assert reader.tool("update_product_state", {"product_name": "Atlas"})["what_works"] == ["login"]


def test_both_answers_fit_the_documented_schema_and_only_their_own_branch(atlas, oauth_for, api):
    document = api.get("/api/v1/openapi.json").json()
    answers = document["paths"]["/api/v1/memory/product/{name}/state"]["post"]["responses"]
    schemas = document["components"]["schemas"]

    def fits(body, schema) -> bool:
        # The OpenAPI document as the root, so the schema's $refs resolve inside it.
        return Draft202012Validator({**document, **schema}, format_checker=FormatChecker()).is_valid(body)

    written = oauth_for("memory:write").post(state_path("Atlas"), json={"status": "paused"}).json()
    whole = oauth_for("memory:read memory:write").post(state_path("Atlas"), json={"status": "active"}).json()
    for status in ("200", "201"):
        schema = answers[status]["content"]["application/json"]["schema"]
        assert fits(written, schema) and fits(whole, schema), status
    assert fits(written, {"$ref": "#/components/schemas/ProductStateWritten"})
    assert not fits(whole, {"$ref": "#/components/schemas/ProductStateWritten"})  # oneOf: one branch each
    assert not fits(written, {"$ref": "#/components/schemas/ProductState"})
    assert set(schemas["ProductStateWritten"]["required"]) == WRITE_ONLY_KEYS
