"""A run of a script written without spaces longer than PostgreSQL's word limit (2,047 bytes) in a
decision or an ingested signal is still searched: the parser dropped it from the generated search
document, so a long Chinese or Thai decision without punctuation was found by no word of it.
The documents go through ``sx_searchable`` (migrations decisions 0018, ingest 0006)."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.decisions.models import Decision, DecisionWord
from apps.ingest.models import Signal
from apps.memory.tests.test_search_long_runs import FILLER_TH, FILLER_ZH, WORD_LIMIT, long_run

from .helpers import record, search, texts

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]
CASES = [(FILLER_ZH, "数据库迁移工具"), (FILLER_TH, "ฐานข้อมูล")]


def memory_types(client, q: str, types: str) -> list[str]:
    response = client.get("/api/v1/memory/search", params={"q": q, "types": types})
    assert response.status_code == 200, response.text
    return [hit["type"] for hit in response.json()["results"]]


def holds(table: str, pk, phrase: str) -> bool:
    """The stored document of the row has a word holding ``phrase``: a full-text hit."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {table}, unnest(search_document) w WHERE id = %s AND strpos(w.lexeme, %s) > 0",
            [pk, phrase],
        )
        return cursor.fetchone()[0] >= 1


@pytest.mark.parametrize(("filler", "phrase"), CASES)
@pytest.mark.parametrize("at", [0, 499, 1_490])
def test_a_word_inside_a_long_run_of_a_decision_is_found(write_api, filler, phrase, at):
    text = long_run(filler, phrase, at)
    assert len(text.encode()) > WORD_LIMIT
    record(write_api, text, product="Long")
    record(write_api, long_run(filler, "", 0), product="Long")  # the same run without the phrase
    assert texts(search(write_api, q=phrase)) == [text]
    assert memory_types(write_api, phrase, "decision") == ["decision"]
    decision = Decision.objects.get(decision=text)
    assert holds("decisions_decision", decision.pk, phrase)
    # The space's words (typo correction, holders of runs) have the pieces too.
    assert DecisionWord.objects.filter(space_id=decision.space_id, word__contains=phrase).exists()


@pytest.mark.parametrize(("filler", "phrase"), CASES)
def test_a_word_inside_a_long_run_of_the_reasoning_is_found(write_api, filler, phrase):
    reasoning = long_run(filler, phrase, 900, total=3_000)
    record(write_api, "Keep the old schema", product="Long", reasoning=reasoning)
    assert texts(search(write_api, q=phrase)) == ["Keep the old schema"]


@pytest.mark.parametrize(("filler", "phrase"), CASES)
def test_a_word_inside_a_long_run_of_a_signal_is_found(write_api, filler, phrase):
    body = long_run(filler, phrase, 700, total=3_000)
    response = write_api.post("/api/v1/ingest/Long", json={"type": "note", "title": "Notes", "body": body})
    assert response.status_code == 202, response.text
    assert memory_types(write_api, phrase, "signal") == ["signal"]
    assert holds("ingest_signal", Signal.objects.get().pk, phrase)
