"""Text in composed (NFC) and decomposed (NFD) form is one text to search.

Generic memories keep their content byte for byte (the MIF round trip) and are searched by its NFC
form; the data migration ``memory.0006_text_nfc`` normalises the rows stored before text was, and
their derived columns (search documents, DecisionWord) follow. Over real HTTP."""

from __future__ import annotations

import importlib
import unicodedata
import uuid

import pytest
from django.apps import apps as django_apps
from django.db import connection

from apps.decisions.models import Decision, DecisionWord
from apps.identity.models import Kernel, KernelRevision
from apps.identity.services import kernel_update
from apps.ingest.models import Signal
from apps.memory.models import Memory
from apps.memory.services import memory_create
from apps.memory.tests.mif_support import by_id, export_json
from apps.products.models import ProductState
from apps.products.services import product_state_write
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)
SEARCH = "/api/v1/memory/search"
DECISION_SEARCH = "/api/v1/memory/decisions/search"
RESUME = "Serve the résumé builder from the edge"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


def hits(client, url: str, **params) -> list[dict]:
    response = client.get(url, params=params)
    assert response.status_code == 200, response.text
    return response.json()["results"]


def migrate() -> None:
    migration = importlib.import_module("apps.memory.migrations.0006_text_nfc")
    migration.normalise_text(django_apps, connection.schema_editor())


def test_a_memorys_content_is_kept_as_sent_and_searched_by_either_spelling(user, client_for):
    space = space_ensure_personal(user=user)
    content = nfd("The résumé builder is served from the edge")
    memory = memory_create(
        space=space,
        data={"id": str(uuid.uuid4()), "content": content, "tags": [nfd("café")], "created_at": "2026-02-01T09:00:00Z"},
    )
    client = client_for(user)

    for query in (nfc("résumé"), nfd("résumé"), nfc("café")):
        (hit,) = hits(client, SEARCH, q=query, types="memory")
        assert hit["id"] == str(memory.memory_id)
    (hit,) = hits(client, SEARCH, q=nfd("résumé"), types="memory")
    assert "**résumé**" in hit["snippet"]  # the snippet is cut from the NFC text
    assert Memory.objects.get(pk=memory.pk).content == content
    exported = by_id(export_json(client))[str(memory.memory_id)]
    assert exported["content"] == content and exported["tags"] == [nfd("café")]


def test_the_migration_normalises_rows_stored_before(user, client_for):
    space = space_ensure_personal(user=user)
    client = client_for(user)
    product, _ = product_state_write(space=space, name="Uni", changes={"what_works": ["x"]})
    decision = Decision.objects.create(space=space, product=product, decision="placeholder")
    signal = Signal.objects.create(space=space, product=product, type="session_summary", occurred_at=product.created_at)
    kernel_update(space=space, changes={"identity": {"name": "placeholder"}}, actor="test")
    memory = memory_create(
        space=space, data={"id": str(uuid.uuid4()), "content": nfd(RESUME), "created_at": "2026-02-01T09:00:00Z"}
    )
    # The rows as the API stored them before: NFD as sent, and documents made from it.
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE decisions_decision SET decision = %s, reasoning = %s, tags = %s, alternatives = %s WHERE id = %s",
            [nfd(RESUME), nfd("Déjà vu"), [nfd("édge"), "cdn"], [nfd("Crème")], decision.pk],
        )
        cursor.execute(
            "UPDATE ingest_signal SET title = %s, body = %s, data = %s::jsonb WHERE id = %s",
            [nfd("Café"), nfd("Résumé done"), f'{{"next_session_starts_here": "{nfd("Déploy")}"}}', signal.pk],
        )
        cursor.execute(
            "UPDATE products_productstate SET what_is_blocked = %s::jsonb, next_session_starts_here = %s WHERE id = %s",
            [f'["{nfd("Café menu")}"]', nfd("Déploy"), product.pk],
        )
        cursor.execute(
            "UPDATE identity_kernel SET identity = %s::jsonb WHERE space_id = %s",
            [f'{{"name": "{nfd("Zoë")}"}}', space.pk],
        )
        cursor.execute("UPDATE memory_memory SET search = to_tsvector('english', content) WHERE id = %s", [memory.pk])
    assert hits(client, DECISION_SEARCH, q=nfc("résumé")) == []
    assert hits(client, SEARCH, q=nfc("résumé"), types="memory") == []
    kernel_version = Kernel.objects.get(space=space).version
    product_version = ProductState.objects.get(pk=product.pk).version

    migrate()

    decision.refresh_from_db()
    assert (decision.decision, decision.reasoning) == (nfc(RESUME), nfc("Déjà vu"))
    assert (decision.tags, decision.alternatives) == ([nfc("édge"), "cdn"], [nfc("Crème")])
    signal.refresh_from_db()
    assert (signal.title, signal.body) == (nfc("Café"), nfc("Résumé done"))
    assert signal.data == {"next_session_starts_here": nfc("Déploy")}
    state = ProductState.objects.get(pk=product.pk)
    assert (state.what_works, state.what_is_blocked) == (["x"], [nfc("Café menu")])
    assert state.next_session_starts_here == nfc("Déploy") and state.version == product_version + 1
    kernel = Kernel.objects.get(space=space)
    assert kernel.identity == {"name": nfc("Zoë")} and kernel.version == kernel_version + 1
    assert KernelRevision.objects.get(kernel=kernel, version=kernel.version).snapshot["identity"] == kernel.identity
    assert Memory.objects.get(pk=memory.pk).content == nfd(RESUME)  # kept as sent

    # Found by the NFC query now, everywhere; the derived columns follow the text.
    assert [hit["decision"] for hit in hits(client, DECISION_SEARCH, q=nfc("résumé"))] == [nfc(RESUME)]
    assert [hit["decision"] for hit in hits(client, DECISION_SEARCH, tags=nfc("édge"))] == [nfc(RESUME)]
    found = {hit["type"] for hit in hits(client, SEARCH, q=nfc("résumé"))}
    assert found == {"decision", "signal", "memory"}
    assert {hit["type"] for hit in hits(client, SEARCH, q=nfc("café"))} == {"signal", "product"}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT DISTINCT unnest(tsvector_to_array(search_document)) FROM decisions_decision WHERE space_id = %s",
            [space.pk],
        )
        words = {row[0] for row in cursor.fetchall()}
    assert set(DecisionWord.objects.filter(space=space).values_list("word", flat=True)) == words
    body = client.get("/api/v1/memory/identity").json()
    assert body["identity"]["name"] == nfc("Zoë") and nfc("Zoë") in body["injection_block"]

    # A second run finds nothing to do.
    migrate()
    assert Kernel.objects.get(space=space).version == kernel_version + 1
    assert ProductState.objects.get(pk=product.pk).version == product_version + 1
