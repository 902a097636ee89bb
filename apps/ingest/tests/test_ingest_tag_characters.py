"""A decision signal's tags follow the tag rule (``TagField``): an invisible character inside one
(a zero-width space, a bidi override, a BOM) is a VALIDATION_ERROR naming the signal's tag, and
nothing of the batch is stored; ordinary non-ASCII tags are taken. Over real HTTP."""

from __future__ import annotations

import pytest

from apps.decisions.models import Decision
from apps.ingest.models import Signal
from apps.scopes.services import space_ensure_personal
from tests.support.consolidation import consolidate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]

URL = "/api/v1/ingest/Atlas"
INVISIBLE = {"zero width space": "pro\u200bd", "right-to-left override": "pro\u202ed", "byte order mark": "pro\ufeffd"}


@pytest.mark.parametrize("tag", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_an_invisible_character_inside_a_signals_tag_is_a_validation_error(write_api, tag):
    good = {"type": "note", "body": "fine"}
    decision = {"type": "decision", "title": "Use Kafka", "data": {"tags": ["ok", tag]}}
    response = write_api.post(URL, json={"signals": [good, decision]})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    fields = error["details"]["fields"]
    assert list(fields) == ["signals[1].data.tags[1]"]
    assert fields["signals[1].data.tags[1]"][0].startswith(f"A tag may not contain U+{ord(tag[3]):04X}")
    assert not Signal.objects.exists()


def test_non_ascii_tags_of_a_signal_are_taken(write_api, user):
    signal = {"type": "decision", "title": "Use Kafka", "data": {"tags": ["Café", "日本", "\u200bprod"]}}
    response = write_api.post(URL, json=signal)
    assert response.status_code == 202, response.text
    consolidate(space_ensure_personal(user=user))
    assert Decision.objects.get().tags == ["café", "日本", "prod"]
