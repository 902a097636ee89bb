"""Ingest reads back which signals it stored only when some could repeat (an ``external_id``)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.ingest.models import Signal

pytestmark = pytest.mark.django_db

READ_BACK = 'SELECT "ingest_signal"."id"'


def post(client, body) -> tuple[dict, list[str]]:
    with CaptureQueriesContext(connection) as captured:
        response = client.post("/api/v1/ingest/Atlas", body, format="json")
    assert response.status_code == 202, response.content
    return response.json(), [query["sql"] for query in captured.captured_queries]


def test_signals_without_external_ids_are_all_stored_without_reading_them_back(user, inproc_for):
    client = inproc_for(user, "write")
    body, statements = post(client, {"signals": [{"type": "commit", "title": "a"}, {"type": "note", "title": "b"}]})
    assert not any(sql.startswith(READ_BACK) for sql in statements), statements
    assert body["accepted"] == 2 and body["duplicates"] == 0
    assert [(entry["type"], entry["status"]) for entry in body["signals"]] == [
        ("commit", "pending"),
        ("note", "pending"),
    ]
    assert set(Signal.objects.values_list("title", flat=True)) == {"a", "b"}
    assert {str(pk) for pk in Signal.objects.values_list("pk", flat=True)} == {e["id"] for e in body["signals"]}


def test_with_an_external_id_a_repeat_is_still_found_and_not_stored_again(user, inproc_for):
    client = inproc_for(user, "write")
    post(client, {"type": "commit", "title": "first", "external_id": "c1"})
    body, statements = post(
        client,
        {"signals": [{"type": "commit", "title": "again", "external_id": "c1"}, {"type": "note", "title": "new"}]},
    )
    assert any(sql.startswith(READ_BACK) for sql in statements)
    assert body["accepted"] == 1 and body["duplicates"] == 1
    assert body["signals"][0]["status"] == "duplicate"
    assert sorted(Signal.objects.values_list("title", flat=True)) == ["first", "new"]
