"""Decisions are stored NFC, merged by their NFC text (SPEC §9: "same normalised text"), and searched
with the NFC query whatever spelling the client sends (REST and MCP, over real HTTP)."""

from __future__ import annotations

import unicodedata

import pytest

from apps.decisions.models import Decision
from apps.mcp.tests.conftest import Mcp
from apps.scopes.services import space_ensure_personal
from tests.support.consolidation import consolidate

from .helpers import DECISIONS, make, record, search, texts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]
CAFE = "Use café API for menus"
CAFE_NFC = unicodedata.normalize("NFC", CAFE)
CAFE_NFD = unicodedata.normalize("NFD", CAFE)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def current(client) -> list[str]:
    return texts(search(client))  # without q: the current decisions, newest first


def test_nfc_and_nfd_spellings_of_a_decision_merge(write_api, user):
    first = record(write_api, CAFE_NFC, product="Uni")
    second = record(write_api, CAFE_NFD, product="Uni")
    assert first["decision"] == second["decision"] == CAFE_NFC

    assert consolidate(space_ensure_personal(user=user))["decisions_merged"] == 1
    assert current(write_api) == [CAFE_NFC]
    assert Decision.objects.get(pk=first["id"]).superseded_by_id is None


def test_a_decision_stored_nfd_before_merges_with_its_nfc_spelling(write_api, user, product):
    """A row written before text was normalised (here: through the ORM) is compared by its NFC text."""
    older = make(product, CAFE_NFD)
    record(write_api, CAFE_NFC)

    assert consolidate(space_ensure_personal(user=user))["decisions_merged"] == 1
    assert [d.pk for d in Decision.objects.filter(superseded_by__isnull=True)] == [older.pk]


def test_every_text_of_a_decision_is_stored_nfc_and_counted_after_nfc(write_api):
    body = record(
        write_api,
        "e\u0301" * 2000,  # 4,000 code points composing to 2,000 characters: at the bound
        reasoning=nfd("Déjà vu"),
        tags=[nfd("Café"), nfc("café")],
        alternatives=[nfd("Crème")],
    )
    assert body["decision"] == "\u00e9" * 2000
    assert body["reasoning"] == nfc("Déjà vu")
    assert body["tags"] == [nfc("café")]  # one tag once both are NFC
    assert body["alternatives"] == [nfc("Crème")]

    # 1,001 of U+0958, which NFC splits in two: 2,002 characters.
    refused = write_api.post(DECISIONS, json={"decision": "\u0958" * 1001, "product_name": "Atlas"})
    assert refused.status_code == 400, refused.text
    assert list(refused.json()["error"]["details"]["fields"]) == ["decision"]


def test_an_nfd_query_or_tag_finds_nfc_decisions(write_api):
    record(write_api, nfc("Serve the résumé builder from the edge"), tags=[nfc("édge")])

    assert texts(search(write_api, q=nfd("résumé"))) == [nfc("Serve the résumé builder from the edge")]
    assert texts(search(write_api, tags=nfd("édge"))) == [nfc("Serve the résumé builder from the edge")]
    found = write_api.get("/api/v1/memory/search", params={"q": nfd("résumé"), "types": "decision"})
    assert found.status_code == 200, found.text
    assert found.json()["count"] == 1


def test_mcp_search_decisions_normalises_its_query(base_url, make_key, user, write_api):
    record(write_api, nfc("Serve the résumé builder from the edge"))
    mcp = Mcp(base_url, make_key(user, "read"))

    found = mcp.tool("search_decisions", {"query": nfd("résumé")})

    assert [hit["decision"] for hit in found["results"]] == [nfc("Serve the résumé builder from the edge")]
