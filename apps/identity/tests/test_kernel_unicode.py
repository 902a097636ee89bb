"""The kernel's text is stored NFC, and the kernel export looks for the NFC query (real HTTP)."""

from __future__ import annotations

import unicodedata

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/memory/identity"
EXPORT = "/api/v1/kernel/export"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def test_every_kernel_text_is_stored_nfc(write_api):
    response = write_api.put(
        URL,
        json={
            "identity": {"name": nfd("Zoë Brontë"), "company": nfd("Café Ltd")},
            "products": [{"name": "Atlas", "summary": nfd("Menus for cafés")}],
            "constraints": {"always": [nfd("Say résumé")], "communication_style": nfd("Naïve")},
            "model_preferences": {"providers": [nfd("mistral-é")], "routing": {nfd("résumé"): nfd("modèle")}},
        },
    )
    assert response.status_code == 200, response.text
    body = write_api.get(URL).json()
    assert (body["identity"]["name"], body["identity"]["company"]) == (nfc("Zoë Brontë"), nfc("Café Ltd"))
    assert body["products"][0]["summary"] == nfc("Menus for cafés")
    assert body["constraints"]["always"] == [nfc("Say résumé")]
    assert body["constraints"]["communication_style"] == nfc("Naïve")
    assert body["model_preferences"]["providers"] == [nfc("mistral-é")]
    assert body["model_preferences"]["routing"] == {nfc("résumé"): nfc("modèle")}
    assert nfc("Zoë Brontë") in body["injection_block"]

    # One task in two spellings is one task.
    twice = write_api.put(URL, json={"model_preferences": {"routing": {nfd("é"): "a", nfc("é"): "b"}}})
    assert twice.status_code == 400, twice.text


@pytest.mark.parametrize("method", ["get", "post"])
def test_the_export_query_is_normalised(write_api, method):
    for text in (nfc("Serve the résumé builder from the edge"), "Keep billing on Stripe"):
        response = write_api.post("/api/v1/memory/decisions", json={"decision": text, "product_name": "Atlas"})
        assert response.status_code == 201, response.text

    options = {"format": "json", "query": nfd("résumé"), "decisions": 1}
    response = write_api.get(EXPORT, params=options) if method == "get" else write_api.post(EXPORT, json=options)
    assert response.status_code == 200, response.text
    assert nfc("Serve the résumé builder from the edge") in response.json()["content"]
