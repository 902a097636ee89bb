"""The OpenAPI document states the per-type rules of a signal that the server enforces (SPEC §9):
a body the document allows is not refused for them, and one it refuses the server refuses too, so
a client generated from or validating against the document sends no body that ends in a 400."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/ingest/Atlas"
USAGE = {"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1}

# (signal, whether the server takes it): the edges of each per-type rule, from both sides.
SIGNALS = [
    ({"type": "session_summary", "body": "x" * 4_000}, True),
    ({"type": "session_summary", "body": "x" * 4_001}, False),
    ({"type": "session_summary"}, False),
    ({"type": "session_summary", "body": ""}, False),
    ({"type": "session_summary", "body": "s", "data": {"next_session_starts_here": "n" * 4_000, "k": 1}}, True),
    ({"type": "session_summary", "body": "s", "data": {"next_session_starts_here": "n" * 4_001}}, False),
    ({"type": "session_summary", "body": "s", "data": {"next_session_starts_here": 3}}, False),
    ({"type": "session_summary", "body": "s", "data": {"next_session_starts_here": None}}, True),
    ({"type": "note", "body": "x" * 10_000}, True),
    ({"type": "blocker", "title": "stuck", "data": {"anything": [1, 2]}}, True),
    ({"type": "blocker"}, False),
    ({"type": "error", "title": ""}, False),
    ({"type": "question", "title": None, "body": "why?"}, False),
    ({"type": "unblocked", "body": "only a body"}, False),
    ({"type": "release", "body": "only a body"}, False),
    ({"type": "decision"}, False),
    ({"type": "commit", "title": "fix"}, True),
    ({"type": "issue", "title": "", "body": "broken"}, True),
    ({"type": "note"}, False),
    ({"type": "note", "title": "", "body": None}, False),
    ({"type": "ci", "title": "build", "data": {"outcome": "cancelled"}}, True),
    ({"type": "ci", "title": "build"}, False),
    ({"type": "ci", "title": "build", "data": None}, False),
    ({"type": "ci", "title": "build", "data": {"outcome": None}}, False),
    ({"type": "ci", "title": "build", "data": {"outcome": "passed"}}, False),
    ({"type": "deploy", "title": "v1"}, True),
    ({"type": "deploy", "title": "v1", "data": {"outcome": "failure", "status": "paused"}}, True),
    ({"type": "deploy", "title": "v1", "data": {"outcome": None, "status": None}}, True),
    ({"type": "deploy", "title": "v1", "data": {"outcome": "passed"}}, False),
    ({"type": "deploy", "title": "v1", "data": {"status": "live"}}, False),
    ({"type": "release", "title": "v1", "data": {"status": "shipped", "notes": "x"}}, True),
    ({"type": "release", "title": "v1", "data": {"status": "live"}}, False),
    ({"type": "note", "body": "n", "data": {"status": "live", "outcome": "passed"}}, True),
    ({"type": "decision", "title": "Use Kafka", "data": {"tags": ["infra"], "alternatives": ["RabbitMQ"]}}, True),
    ({"type": "decision", "title": "Use Kafka", "data": None}, True),
    ({"type": "decision", "title": "Use Kafka", "data": {"owner": "ana"}}, False),
    ({"type": "decision", "title": "Use Kafka", "data": {"tags": ["t"] * 21}}, False),
    ({"type": "decision", "title": "Use Kafka", "data": {"tags": ["t" * 51]}}, False),
    ({"type": "decision", "title": "Use Kafka", "data": {"alternatives": ["a"] * 21}}, False),
    ({"type": "decision", "title": "Use Kafka", "data": {"affects_products": ["p" * 101]}}, False),
    ({"type": "ai_usage", "data": USAGE}, True),
    ({"type": "ai_usage", "data": {**USAGE, "cost_usd": "0.25", "operation": None}}, True),
    ({"type": "ai_usage", "data": {**USAGE, "cost_usd": 0.25, "input_tokens": 10**12}}, True),
    ({"type": "ai_usage"}, False),
    ({"type": "ai_usage", "data": {}}, False),
    ({"type": "ai_usage", "data": {**USAGE, "region": "eu"}}, False),
    ({"type": "ai_usage", "data": {k: v for k, v in USAGE.items() if k != "model"}}, False),
    ({"type": "ai_usage", "data": {**USAGE, "input_tokens": 10**12 + 1}}, False),
    ({"type": "ai_usage", "data": {**USAGE, "output_tokens": -1}}, False),
    ({"type": "ai_usage", "data": {**USAGE, "output_tokens": "1"}}, False),
    ({"type": "ai_usage", "data": {**USAGE, "cost_usd": -0.01}}, False),
    ({"type": "ai_usage", "data": {**USAGE, "cost_usd": "lots"}}, False),
    ({"type": "ai_usage", "data": {**USAGE, "cost_usd": 10**10}}, False),
    # A required text of spaces only is trimmed to nothing: missing (NOT_BLANK in the document).
    ({"type": "note", "title": "   "}, False),
    ({"type": "note", "body": " \t\n "}, False),
    ({"type": "note", "title": "   ", "body": "b"}, True),
    ({"type": "blocker", "title": "  "}, False),
    ({"type": "decision", "title": "\u00a0"}, False),
    ({"type": "session_summary", "body": "   "}, False),
    ({"type": "note", "body": "n", "external_id": "   "}, False),
    ({"type": "note", "body": "n", "external_id": " e "}, True),
    ({"type": "ai_usage", "data": {**USAGE, "provider": "  "}}, False),
    ({"type": "ai_usage", "data": {**USAGE, "model": " "}}, False),
    ({"type": "ai_usage", "data": {**USAGE, "provider": " openai "}}, True),
    ({"type": "decision", "title": "Use Kafka", "data": {"tags": ["a,b"]}}, False),
    ({"type": "decision", "title": "Use Kafka", "data": {"tags": ["  "]}}, False),
    ({"type": "decision", "title": "Use Kafka", "data": {"tags": [" Infra "]}}, True),
    ({"type": "decision", "title": "Use Kafka", "data": {"alternatives": [" "]}}, False),
    ({"type": "decision", "title": "Use Kafka", "data": {"affects_products": ["  "]}}, False),
    # ``occurred_at``: RFC 3339's date or date-time, the zone optional (UTC), trimmed; no other form.
    ({"type": "note", "body": "n", "occurred_at": "2024-01-01"}, True),
    ({"type": "note", "body": "n", "occurred_at": "2024-01-01T00:00:00"}, True),
    ({"type": "note", "body": "n", "occurred_at": "2024-01-01 12:30"}, True),
    ({"type": "note", "body": "n", "occurred_at": "2024-01-01t12:30:00.5z"}, True),
    ({"type": "note", "body": "n", "occurred_at": " 2024-01-01T12:00:00+01:00 "}, True),
    ({"type": "note", "body": "n", "occurred_at": "2024-01-01T12:00+0100"}, True),
    ({"type": "note", "body": "n", "occurred_at": "20240101"}, False),
    ({"type": "note", "body": "n", "occurred_at": "2024-W01-1"}, False),
    ({"type": "note", "body": "n", "occurred_at": "2024-01-01T24:00:00"}, False),
    ({"type": "note", "body": "n", "occurred_at": "2024-01-01T12:00:00+01:99"}, False),
    ({"type": "note", "body": "n", "occurred_at": "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0661"}, False),
]


def document_allows(document: dict, body) -> bool:
    request = document["paths"]["/api/v1/ingest/{project_id}"]["post"]["requestBody"]
    schema = {**request["content"]["application/json"]["schema"], "components": document["components"]}
    # With its formats checked, as a client's validator or generated model checks them.
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).is_valid(body)


def test_the_document_allows_a_signal_exactly_when_the_server_takes_it(write_api):
    document = write_api.get("/api/v1/openapi.json").json()

    for signal, taken in SIGNALS:
        response = write_api.post(URL, json=signal)
        assert (response.status_code == 202) is taken, (signal, response.text)
        assert document_allows(document, signal) is taken, signal
        # In a batch too: its items are the same schema.
        assert document_allows(document, {"signals": [{"type": "note", "body": "n"}, signal]}) is taken, signal


def test_the_closed_data_of_decision_and_ai_usage_signals_are_schemas_of_their_own(api):
    schemas = api.get("/api/v1/openapi.json").json()["components"]["schemas"]

    for name in ("AiUsageDataRequest", "DecisionDataRequest"):
        assert schemas[name]["additionalProperties"] is False, name
    assert set(schemas["AiUsageDataRequest"]["required"]) == {"provider", "model", "input_tokens", "output_tokens"}


def test_a_token_count_with_a_fraction_is_refused_and_the_document_says_so(write_api):
    # JSON Schema's "integer" takes 1.0 (it cannot tell it from 1), so the description states the rule.
    tokens = write_api.get("/api/v1/openapi.json").json()["components"]["schemas"]["AiUsageDataRequest"]["properties"]

    response = write_api.post(URL, json={"type": "ai_usage", "data": {**USAGE, "input_tokens": 1.0}})

    assert response.status_code == 400, response.text
    assert "data.input_tokens" in response.json()["error"]["details"]["fields"]
    for name in ("input_tokens", "output_tokens"):
        assert "1.0" in tokens[name]["description"], name
