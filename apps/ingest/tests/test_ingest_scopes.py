"""Ingest and the OAuth scopes: decision signals need decisions:write, as every way of writing decisions does."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)
INGEST = "/api/v1/ingest/Acme"


def test_decision_signals_need_decisions_write(oauth_for):
    client = oauth_for("memory:read memory:write")
    refused = client.post(INGEST, json={"type": "decision", "title": "Raise prices", "body": "why"})
    assert refused.status_code == 403, refused.text
    error = refused.json()["error"]
    assert error["code"] == "FORBIDDEN" and error["details"]["required_scopes"] == ["decisions:write"]
    batch = {"signals": [{"type": "note", "title": "fine"}, {"type": "decision", "title": "Raise prices"}]}
    assert client.post(INGEST, json=batch).status_code == 403  # a batch is atomic: nothing of it is stored
    assert client.post(INGEST, json={"type": "note", "title": "fine"}).status_code == 202
    searched = client.get("/api/v1/memory/search", params={"q": "fine"}).json()
    assert [hit["title"] for hit in searched["results"]] == ["note: fine"], searched


def test_with_decisions_write_a_decision_signal_records_the_decision(oauth_for):
    client = oauth_for("memory:write decisions:read decisions:write")
    assert client.post(INGEST, json={"type": "decision", "title": "Raise prices"}).status_code == 202
    found = client.get("/api/v1/memory/decisions/search", params={"q": "prices"}).json()
    assert [d["decision"] for d in found["results"]] == ["Raise prices"]
