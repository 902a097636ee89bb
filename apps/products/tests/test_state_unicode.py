"""Product-state text is stored NFC, and consolidation's step 3 compares list items by NFC (also
items stored before text was normalised), over real HTTP."""

from __future__ import annotations

import unicodedata

import pytest

from apps.mcp.tests.conftest import Mcp
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal
from tests.support.consolidation import consolidate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]
CAFE_NFC = unicodedata.normalize("NFC", "Café menu")
CAFE_NFD = unicodedata.normalize("NFD", "Café menu")
Q_NFC = unicodedata.normalize("NFC", "Qé")
Q_NFD = unicodedata.normalize("NFD", "Qé")


def test_a_state_written_in_both_spellings_is_stored_nfc_and_cleaned(write_api, user):
    response = write_api.post(
        "/api/v1/memory/product/Uni2/state",
        json={
            "what_works": [CAFE_NFC],
            "what_is_blocked": [CAFE_NFD],
            "open_questions": [Q_NFD, Q_NFC],
            "next_session_starts_here": unicodedata.normalize("NFD", "Déploy"),
        },
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["what_is_blocked"] == [CAFE_NFC] and body["open_questions"] == [Q_NFC, Q_NFC]
    assert body["next_session_starts_here"] == unicodedata.normalize("NFC", "Déploy")

    assert consolidate(space_ensure_personal(user=user))["items_cleaned"] == 2
    state = write_api.get("/api/v1/memory/product/Uni2/state").json()
    assert (state["what_works"], state["what_is_blocked"], state["open_questions"]) == ([CAFE_NFC], [], [Q_NFC])


def test_items_stored_nfd_before_match_their_nfc_spelling(write_api, user):
    """A state written before text was normalised (here: through the ORM) still has its NFD items
    matched: step 3 and the signal rules compare NFC keys."""
    space = space_ensure_personal(user=user)
    ProductState.objects.create(
        space=space, name="Uni2", what_works=[CAFE_NFC], what_is_blocked=[CAFE_NFD], open_questions=[Q_NFD, Q_NFC]
    )
    assert consolidate(space_ensure_personal(user=user))["items_cleaned"] == 2
    state = write_api.get("/api/v1/memory/product/Uni2/state").json()
    assert (state["what_works"], state["what_is_blocked"], state["open_questions"]) == ([CAFE_NFC], [], [Q_NFD])


def test_list_items_are_counted_after_nfc(write_api):
    # 1,000 code points that compose to 500 characters: at the bound, accepted.
    accepted = write_api.post("/api/v1/memory/product/Uni2/state", json={"what_works": ["e\u0301" * 500]})
    assert accepted.status_code == 201, accepted.text
    assert accepted.json()["what_works"] == ["\u00e9" * 500]
    # 300 of U+0958 become 600 characters.
    refused = write_api.post("/api/v1/memory/product/Uni2/state", json={"what_works": ["\u0958" * 300]})
    assert refused.status_code == 400, refused.text
    assert list(refused.json()["error"]["details"]["fields"]) == ["what_works[0]"]


def test_an_mcp_session_end_stores_its_summary_and_handoff_nfc(base_url, make_key, user, write_api):
    mcp = Mcp(base_url, make_key(user, "write"))
    session = mcp.tool("register_session", {"product_name": "Uni2"})
    mcp.tool(
        "end_session",
        {"session_id": session["session_id"], "summary": CAFE_NFD, "next_session_starts_here": Q_NFD},
    )
    state = write_api.get("/api/v1/memory/product/Uni2/state").json()
    assert (state["last_session_summary"], state["next_session_starts_here"]) == (CAFE_NFC, Q_NFC)
