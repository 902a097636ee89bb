"""Composed (NFC) and decomposed (NFD) spellings of one text are one text: signals are stored NFC,
consolidation matches list items by NFC, and searches look for the NFC query (over real HTTP)."""

from __future__ import annotations

import unicodedata
import uuid
from urllib.parse import quote

import pytest

from apps.costs.models import CostEvent
from apps.ingest.models import Signal
from apps.scopes.services import space_ensure_personal
from tests.support.consolidation import consolidate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def ingest(client, project: str, body) -> dict:
    response = client.post(f"/api/v1/ingest/{project}", json=body)
    assert response.status_code == 202, response.text
    return response.json()


def test_a_blocker_sent_nfd_is_unblocked_by_its_nfc_spelling(write_api, user):
    assert nfd("Café menu") != nfc("Café menu")
    ingest(
        write_api,
        "Uni",
        {
            "signals": [
                {"type": "blocker", "title": nfd("Café menu")},
                {"type": "unblocked", "title": nfc("Café menu")},
            ]
        },
    )
    consolidate(space_ensure_personal(user=user))

    state = write_api.get("/api/v1/memory/product/Uni/state").json()
    assert state["what_works"] == [nfc("Café menu")]
    assert state["what_is_blocked"] == []


def test_signal_text_is_stored_nfc_and_its_length_counted_after_nfc(write_api):
    body = ingest(
        write_api,
        "Uni",
        {
            "signals": [
                # 1,000 code points that compose to 500 characters: at the list item bound, not past it.
                {"type": "question", "title": "e\u0301" * 500, "body": nfd("Résumé"), "source": nfd("café")},
                {
                    "type": "session_summary",
                    "body": nfd("Shipped the café"),
                    "data": {"next_session_starts_here": nfd("Déploy")},
                },
            ]
        },
    )
    question, summary = (Signal.objects.get(pk=entry["id"]) for entry in body["signals"])
    assert question.title == "\u00e9" * 500 and question.body == nfc("Résumé") and question.source == nfc("café")
    assert summary.body == nfc("Shipped the café")
    assert summary.data == {"next_session_starts_here": nfc("Déploy")}

    # 500 of U+0958, which NFC splits in two (a composition exclusion): 1,000 characters.
    response = write_api.post("/api/v1/ingest/Uni", json={"type": "blocker", "title": "\u0958" * 500})
    assert response.status_code == 400, response.text
    assert "title" in response.json()["error"]["details"]["fields"]


def test_the_external_id_is_kept_as_sent(write_api):
    """An id is the client's, compared byte for byte: its two spellings are two events."""
    first = ingest(write_api, "Uni", {"type": "note", "title": "a", "external_id": nfd("é-1")})
    second = ingest(write_api, "Uni", {"type": "note", "title": "b", "external_id": nfc("é-1")})
    assert first["accepted"] == 1 and second["accepted"] == 1
    assert Signal.objects.get(pk=first["signals"][0]["id"]).external_id == nfd("é-1")


def test_an_nfd_decision_is_found_by_an_nfc_search_and_the_other_way_round(write_api):
    ingest(write_api, "Uni", {"type": "decision", "title": nfd("Serve the résumé builder from the edge")})

    for query in (nfc("résumé"), nfd("résumé")):
        decisions = write_api.get("/api/v1/memory/decisions/search", params={"q": query})
        assert decisions.status_code == 200, decisions.text
        assert [hit["decision"] for hit in decisions.json()["results"]] == [
            nfc("Serve the résumé builder from the edge")
        ]
        found = write_api.get("/api/v1/memory/search", params={"q": query, "types": "decision,signal"})
        assert found.status_code == 200, found.text
        assert sorted(hit["type"] for hit in found.json()["results"]) == ["decision", "signal"]
        assert all("**résumé**" in hit["snippet"] for hit in found.json()["results"])


def test_a_provider_is_checked_as_stored_lower_cased_never_a_500(write_api):
    """str.lower() makes 'İ' two characters ('i' + U+0307): the stored provider is the one checked."""
    usage = {"model": "gpt-4o", "input_tokens": 10, "output_tokens": 5}
    body = ingest(write_api, "CostUni", {"type": "ai_usage", "data": {**usage, "provider": "İ" * 50}})
    assert CostEvent.objects.get(signal_id=body["signals"][0]["id"]).provider == "i\u0307" * 50  # 100 characters

    too_long = "provider has at most 100 characters once lower-cased."
    single = write_api.post(
        "/api/v1/ingest/CostUni", json={"type": "ai_usage", "data": {**usage, "provider": "İ" * 60}}
    )
    assert single.status_code == 400, single.text
    assert single.json()["error"]["details"]["fields"] == {"data.provider": [too_long]}
    batch = write_api.post(
        "/api/v1/ingest/CostUni",
        json={
            "signals": [{"type": "note", "title": "n"}, {"type": "ai_usage", "data": {**usage, "provider": "İ" * 51}}]
        },
    )
    assert batch.status_code == 400, batch.text
    assert list(batch.json()["error"]["details"]["fields"]) == ["signals[1].data.provider"]
    assert CostEvent.objects.count() == 1 and Signal.objects.filter(title="n").count() == 0


@pytest.mark.parametrize("edge", ["\ufeff", "\u200e", "\u200b", " \u2060"])
def test_a_product_id_with_an_invisible_character_at_an_end_is_the_id(write_api, edge):
    """Read as names are trimmed: never a new product named after the id, never a misfiled signal."""
    product = ingest(write_api, "Billing", {"type": "note", "title": "plain"})["product"]
    for project in (edge + product["id"], product["id"] + edge):
        assert ingest(write_api, quote(project, safe=""), {"type": "note", "title": "padded"})["product"] == product

    unknown = str(uuid.uuid4())
    missing = write_api.post(f"/api/v1/ingest/{quote(unknown + edge, safe='')}", json={"type": "note", "title": "n"})
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "NOT_FOUND", missing.text
    assert write_api.post(f"/api/v1/ingest/{unknown}", json={"type": "note", "title": "n"}).status_code == 404
    assert [p["name"] for p in write_api.get("/api/v1/memory/products").json()["results"]] == ["Billing"]
