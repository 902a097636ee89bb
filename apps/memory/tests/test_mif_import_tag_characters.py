"""POST /api/v1/memory/import-mif: a restored decision's tags follow the API's tag rule
(``TagField``). An invisible character inside one — a zero-width space, a bidi override, a BOM — in
its tags or its ``merge_base`` tags makes that decision a per-item error naming the tag, and the
rest of the document is imported; ordinary non-ASCII tags are restored. Over real HTTP."""

from __future__ import annotations

import json
import uuid

import pytest

from apps.decisions.models import Decision
from apps.memory.mif.common import VENDOR
from apps.memory.models import Memory
from apps.memory.tests.mif_support import import_document, mif_document, mif_memory

pytestmark = pytest.mark.django_db(transaction=True)

INVISIBLE = {"zero width space": "pro\u200bd", "right-to-left override": "pro\u202ed", "byte order mark": "pro\ufeffd"}


def _decision(**data) -> dict:
    record = {"id": str(uuid.uuid4()), "decision": "Use Kafka", "product_name": "Atlas", **data}
    return mif_memory(
        id=record["id"], content=record["decision"], vendor_extensions={VENDOR: {"kind": "decision", "data": record}}
    )


def _import_with_one_bad_decision(client, bad: dict) -> str:
    good = mif_memory(content="The good memory next to the bad one")
    response = import_document(client, json.dumps(mif_document([good, bad])))
    assert response.status_code == 200, response.text
    report = response.json()
    assert [(error["index"], error["id"]) for error in report["errors"]] == [(1, bad["id"])], report
    assert (report["memories_imported"], report["decisions_imported"]) == (1, 0), report
    assert Memory.objects.filter(memory_id=good["id"]).exists()
    assert not Decision.objects.exists()
    return report["errors"][0]["message"]


@pytest.mark.parametrize("tag", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_an_invisible_character_inside_a_restored_tag_is_a_per_item_error(write_api, tag):
    message = _import_with_one_bad_decision(write_api, _decision(tags=["ok", tag]))
    assert message.startswith(f"tags[1]: A tag may not contain U+{ord(tag[3]):04X}"), message


@pytest.mark.parametrize("tag", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_an_invisible_character_inside_a_merge_base_tag_is_a_per_item_error(write_api, tag):
    base = {"tags": [tag], "affects_products": [], "alternatives": [], "reasoning": ""}
    message = _import_with_one_bad_decision(write_api, _decision(tags=[tag, "other"], merge_base=base))
    assert f"A tag may not contain U+{ord(tag[3]):04X}" in message, message


def test_non_ascii_tags_are_restored(write_api):
    response = import_document(write_api, mif_document([_decision(tags=["café", "日本"])]))
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["decisions_imported"], report["errors"]) == (1, []), report
    assert Decision.objects.get().tags == ["café", "日本"]
