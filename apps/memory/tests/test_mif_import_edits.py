"""A user's edits to an exported file survive the import (SPEC §8).

The export records its compatibility changes to a generic memory in a restore patch; the
import undoes a change only while the field still holds what the export wrote.
"""

import uuid

import pytest

from apps.memory.mif.common import VENDOR
from apps.memory.models import Memory
from apps.memory.tests.mif_support import by_id, export_json, import_document, mif_document
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

# Naive created_at, no memory_type, no source, version 0 (strict readers want ≥ 1): the export
# adds, normalises and drops fields, and records each change in the restore patch.
NAIVE_ID = "2d3c4b5a-6978-4a1b-8c2d-3e4f5a6b7c8d"
NAIVE = {"id": NAIVE_ID, "content": "Naive date", "created_at": "2025-06-01T12:00:00", "version": 0}


def exported_naive(make_user, client_for) -> dict:
    """The naive memory as another account exports it, after importing it over HTTP."""
    source = make_user()
    client = client_for(source)
    assert import_document(client, mif_document([NAIVE])).json()["memories_imported"] == 1
    return by_id(export_json(client))[NAIVE_ID]


def import_into_new_account(make_user, client_for, memory: dict):
    user = make_user()
    client = client_for(user)
    report = import_document(client, mif_document([memory])).json()
    assert (report["memories_imported"], report["errors"]) == (1, []), report
    stored = Memory.objects.get(space=space_ensure_personal(user=user), memory_id=uuid.UUID(NAIVE_ID))
    return client, stored


def test_edits_to_fields_the_export_normalised_survive_the_import(make_user, client_for):
    memory = exported_naive(make_user, client_for)
    restore = memory["vendor_extensions"][VENDOR]["restore"]
    assert restore["added"] == ["memory_type", "source", "vendor_extensions"]
    assert restore["original"] == {"created_at": "2025-06-01T12:00:00", "version": 0}

    memory["memory_type"] = "learning"
    memory["source"]["agent_name"] = "claude"
    memory["created_at"] = "2020-01-01T00:00:00Z"
    memory["tags"] = ["edited"]
    memory["version"] = 2  # the export had dropped version: adding it back is an edit too
    memory["vendor_extensions"]["othervendor"] = {"note": "added by hand"}
    client, stored = import_into_new_account(make_user, client_for, memory)

    assert stored.raw["memory_type"] == "learning"
    assert stored.raw["source"] == {"agent": "unknown", "agent_name": "claude"}
    assert stored.raw["created_at"] == "2020-01-01T00:00:00Z"
    assert (stored.raw["tags"], stored.raw["version"]) == (["edited"], 2)
    assert stored.raw["vendor_extensions"] == {"othervendor": {"note": "added by hand"}}
    again = by_id(export_json(client))[NAIVE_ID]
    assert (again["memory_type"], again["source"]["agent_name"]) == ("learning", "claude")
    assert (again["created_at"], again["tags"], again["version"]) == ("2020-01-01T00:00:00Z", ["edited"], 2)
    assert again["vendor_extensions"]["othervendor"] == {"note": "added by hand"}


def test_fields_left_alone_are_restored_next_to_an_edited_one(make_user, client_for):
    memory = exported_naive(make_user, client_for)
    memory["memory_type"] = "learning"
    _, stored = import_into_new_account(make_user, client_for, memory)
    assert stored.raw == {**NAIVE, "memory_type": "learning"}


def test_an_unedited_export_restores_the_memory_exactly(make_user, client_for):
    memory = exported_naive(make_user, client_for)
    client, stored = import_into_new_account(make_user, client_for, memory)
    assert stored.raw == NAIVE
    assert by_id(export_json(client))[NAIVE_ID] == memory


def test_a_patch_from_before_the_written_record_still_keeps_edits(make_user, client_for):
    """Older exports' patches lack ``written``: the import works out what the export wrote."""
    memory = exported_naive(make_user, client_for)
    memory["vendor_extensions"][VENDOR]["restore"].pop("written", None)
    memory["source"]["agent_name"] = "claude"
    _, stored = import_into_new_account(make_user, client_for, memory)
    assert stored.raw == {**NAIVE, "source": {"agent": "unknown", "agent_name": "claude"}}
