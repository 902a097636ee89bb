"""export_memories / import_memories: the MIF services of the REST routes, through MCP."""

from __future__ import annotations

import pytest
import requests

from apps.decisions.models import Decision
from apps.mcp.tests.conftest import Mcp
from apps.oauth.tests.helpers import obtain_tokens

pytestmark = pytest.mark.django_db(transaction=True)


def seed(mcp, base_url) -> None:
    requests.put(
        f"{base_url}/api/v1/memory/identity",
        json={"identity": {"name": "Ada"}, "constraints": {"never": ["Deploy on Fridays"]}},
        headers={"Authorization": f"Bearer {mcp.token}"},
        timeout=30,
    ).raise_for_status()
    mcp.tool("update_product_state", {"product_name": "Atlas", "what_works": ["Login"]})
    mcp.tool("log_decision", {"decision": "Use Postgres", "product_name": "Atlas", "tags": ["db"]})


def test_export_returns_the_mif_document_of_the_scope(mcp, base_url):
    seed(mcp, base_url)

    exported = mcp.tool("export_memories")

    assert exported["format"] == "json" and exported["scope"] == "personal"
    assert exported["filename"].startswith("synchronex-personal-") and exported["filename"].endswith(".mif.json")
    document = exported["document"]
    assert document["mif_version"].startswith("2")
    assert document["export_meta"]["checksum"].startswith("sha256:")
    kinds = sorted(m["vendor_extensions"]["synchronex"]["kind"] for m in document["memories"])
    assert len(kinds) == 3
    assert any(m["memory_type"] == "decision" and m["content"].startswith("Use Postgres") for m in document["memories"])


def test_export_round_trips_into_an_empty_scope_and_reimport_changes_nothing(mcp, mcp_for, make_user, base_url):
    seed(mcp, base_url)
    document = mcp.tool("export_memories")["document"]
    other = mcp_for(make_user(tier="pro"))

    first = other.tool("import_memories", {"document": document})
    again = other.tool("import_memories", {"document": document})
    exported_back = other.tool("export_memories")["document"]

    assert first["decisions_imported"] == 1 and first["products_imported"] == 1 and first["kernel_imported"] is True
    assert first["errors"] == [] and first["dry_run"] is False and first["format"] == "mif"
    assert again["decisions_imported"] == 0 and again["duplicates_skipped"] == 3
    # The source space still holds the original ids, so the copies get ids derived from them.
    assert {(m["memory_type"], m["content"]) for m in exported_back["memories"]} == {
        (m["memory_type"], m["content"]) for m in document["memories"]
    }
    assert other.tool("get_product_state", {"product_name": "Atlas"})["what_works"] == ["Login"]


def test_export_in_markdown_and_narrowed_by_type(mcp, base_url):
    seed(mcp, base_url)

    markdown = mcp.tool("export_memories", {"format": "markdown"})
    decisions = mcp.tool("export_memories", {"types": ["decision"]})["document"]

    assert markdown["format"] == "markdown" and "Use Postgres" in markdown["content"]
    assert [m["memory_type"] for m in decisions["memories"]] == ["decision"]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "0001-01-01T00:00:00+14:00"}, "since"),
        ({"since": "9999-12-31T23:59:59-12:00", "format": "markdown"}, "since"),
        ({"types": ["cats"]}, "types[0]"),
        ({"format": "xml"}, "format"),
        ({"types": []}, "types"),
    ],
)
def test_bad_export_arguments_are_a_validation_error(mcp, arguments, field):
    assert field in mcp.argument_errors("export_memories", arguments)


def test_export_types_may_repeat_as_on_rest(mcp, base_url):
    seed(mcp, base_url)

    exported = mcp.tool("export_memories", {"types": ["decision", "decision"]})["document"]

    assert [m["memory_type"] for m in exported["memories"]] == ["decision"]


def test_import_reads_mem0_arrays_and_mcp_memory_jsonl_and_dry_runs(mcp):
    mem0 = [{"id": "m-1", "memory": "Prefers short answers", "created_at": "2026-01-02T03:04:05Z"}]
    jsonl = '{"type": "entity", "name": "Ada", "entityType": "person", "observations": ["Writes Rust"]}'

    dry = mcp.tool("import_memories", {"document": mem0, "dry_run": True})
    real = mcp.tool("import_memories", {"document": mem0})
    lines = mcp.tool("import_memories", {"document": jsonl})

    assert dry["dry_run"] is True and dry["memories_imported"] == 1 and dry["format"] == "mem0"
    assert real["memories_imported"] == 1
    assert lines["format"] == "mcp-jsonl" and lines["memories_imported"] >= 1


def test_an_item_with_a_nul_character_is_reported_and_the_others_are_imported(mcp):
    mem0 = [{"id": "m-1", "memory": "Prefers short answers"}, {"id": "m-2", "memory": "Bad\x00byte"}]

    report = mcp.tool("import_memories", {"document": mem0})

    assert report["memories_imported"] == 1
    assert [e["index"] for e in report["errors"]] == [1]


def test_a_document_sent_as_text_reports_values_no_column_can_hold_item_by_item(mcp):
    text = (
        '[{"id": "m-1", "memory": "Fine"}, {"id": "m-2", "memory": "\\ud800"},'
        ' {"id": "m-3", "memory": "x", "metadata": {"n": 1e400}}]'
    )

    report = mcp.tool("import_memories", {"document": text})

    assert report["memories_imported"] == 1
    assert [e["index"] for e in report["errors"]] == [1, 2]


def test_a_document_level_problem_is_a_validation_error_naming_the_document(mcp):
    fields = mcp.argument_errors("import_memories", {"document": {"mif_version": "1.0", "memories": []}})

    assert list(fields) == ["document"]


def test_import_needs_memory_write_and_decisions_need_decisions_write(base_url, person, mcp, mcp_for):
    seed(mcp, base_url)
    document = mcp.tool("export_memories")["document"]
    reader = mcp_for(person, "read")
    error = reader.rpc_error("import_memories", {"document": document}, status=403)
    _, tokens = obtain_tokens(base_url, person.email, scope="memory:read memory:write", resource=f"{base_url}/mcp")

    Decision.objects.all().delete()
    report = Mcp(base_url, tokens["access_token"]).tool("import_memories", {"document": document})

    assert error["data"]["required_scopes"] == ["memory:write"]
    assert report["decisions_imported"] == 0
    assert [e["message"] for e in report["errors"]] == ["Importing decisions needs the decisions:write scope."]
