"""Which hits of memory search a token is served (SPEC §2, §7), with real OAuth tokens: memory:read
opens the non-decision hits, decisions:read the decision hits, and either one opens the route.
A ``decision`` signal carries its decision's text and reasoning, so it is a decision hit too."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/memory/search"


@pytest.fixture
def seeded(person, client_for):
    """A decision signal, a note signal and a generic memory, all about "secret"."""
    writer = client_for(person)
    signals = [
        {"type": "decision", "title": "Secret pricing", "body": "Enterprise pays double because of support"},
        {"type": "note", "title": "Secret launch date moved"},
    ]
    response = writer.post("/api/v1/ingest/Atlas", json={"signals": signals})
    assert response.status_code == 202, response.text
    memory = {
        "mif_version": "2.0",
        "memories": [
            {
                "id": "8c6f4c36-6a49-4f4e-9a53-44b4e8a9a0d1",
                "content": "The secret sauce is onboarding",
                "created_at": "2026-02-01T09:00:00Z",
            }
        ],
    }
    response = writer.post("/api/v1/memory/import-mif", json=memory)
    assert response.status_code == 200, response.text
    return writer


def found(client, **params) -> list[tuple[str, str]]:
    response = client.get(URL, params={"q": "secret", **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["count"] == len(body["results"])
    return sorted((hit["type"], hit["title"]) for hit in body["results"])


def test_decision_signals_are_left_out_for_tokens_without_decisions_read(seeded, oauth_for):
    memory_only = oauth_for("memory:read")
    assert found(memory_only) == [
        ("memory", "The secret sauce is onboarding"),
        ("signal", "note: Secret launch date moved"),
    ]
    assert found(memory_only, types="signal") == [("signal", "note: Secret launch date moved")]
    snippets = memory_only.get(URL, params={"q": "secret support", "types": "signal"}).json()["results"]
    assert all("double" not in hit["snippet"] for hit in snippets)

    both = oauth_for("memory:read decisions:read")
    assert found(both) == [
        ("decision", "Secret pricing"),
        ("memory", "The secret sauce is onboarding"),
        ("signal", "decision: Secret pricing"),
        ("signal", "note: Secret launch date moved"),
    ]


def test_a_token_with_only_decisions_read_gets_the_decision_hits(seeded, oauth_for):
    decisions_only = oauth_for("decisions:read")
    assert found(decisions_only) == [("decision", "Secret pricing")]
    assert found(decisions_only, types="memory,signal") == []


def test_a_token_with_neither_read_scope_is_forbidden_naming_both(seeded, oauth_for):
    response = oauth_for("costs:read decisions:write").get(URL, params={"q": "secret"})
    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "FORBIDDEN"
    assert error["details"]["required_scopes"] == ["memory:read", "decisions:read"]
