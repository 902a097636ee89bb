"""Both MIF routes are fully described in the OpenAPI document."""

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from apps.memory.tests.mif_support import import_document, mif_document, mif_memory

pytestmark = pytest.mark.django_db(transaction=True)


def test_openapi_describes_export_and_import(api):
    document = api.get("/api/v1/openapi.json").json()
    schemas = document["components"]["schemas"]

    export = document["paths"]["/api/v1/memory/export-mif"]["get"]
    assert {p["name"] for p in export["parameters"]} >= {"format", "include_embeddings", "since", "types"}
    content = export["responses"]["200"]["content"]
    assert content["application/json"]["schema"] == {"$ref": "#/components/schemas/MifDocument"}
    assert content["text/markdown"]["schema"]["type"] == "string"
    assert "Content-Disposition" in export["responses"]["200"]["headers"]
    assert {"mif_version", "memories", "export_meta"} <= set(schemas["MifDocument"]["properties"])
    assert {"checksum", "privacy", "user_id"} <= set(schemas["MifExportMeta"]["properties"])

    imported = document["paths"]["/api/v1/memory/import-mif"]["post"]
    assert {p["name"] for p in imported["parameters"]} >= {"format", "dry_run", "Idempotency-Key"}
    media = imported["requestBody"]["content"]
    assert set(media) == {
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "application/x-jsonlines",
        "text/plain",
    }
    body = schemas[media["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]]
    assert len(body["oneOf"]) == 3  # a MIF document, a mem0 array or mem0's {results, relations}
    mif_body, mem0_object = (schemas[ref["$ref"].rsplit("/", 1)[1]] for ref in body["oneOf"][::2])
    assert "knowledge_graph" in mif_body["properties"]
    assert {"results", "relations"} <= set(mem0_object["properties"])
    result = imported["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schemas[result]["required"]) >= {
        "memories_imported",
        "decisions_imported",
        "products_imported",
        "duplicates_skipped",
        "errors",
        "not_imported",
        "dry_run",
    }
    for status in ("413", "415"):
        error = imported["responses"][status]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}


def test_import_body_schema_takes_every_document_the_import_takes(write_api):
    document = write_api.get("/api/v1/openapi.json").json()
    body = document["paths"]["/api/v1/memory/import-mif"]["post"]["requestBody"]["content"]["application/json"]
    # The OpenAPI document as the root, so the body schema's $refs resolve inside it.
    validator = Draft202012Validator({**document, **body["schema"]}, format_checker=FormatChecker())
    memory = mif_memory(
        metadata={"importance": 0.8, "nested": {"a": [1, 2]}, "empty": ""},
        embeddings={"model": "m", "vector": [0.1, 0.2]},  # no dimensions
        version=0,
        tags=[""],
        external_id=12345,
        source={"agent_name": "claude", "session_id": 7},
        entities=[{"name": "PostgreSQL", "confidence": 2}, "kept as given"],
        normalized_by_another_tool=True,
    )
    foreign = mif_document(
        [memory],
        generator={"name": "another-tool"},
        export_meta={"id": "exp-1", "created_at": "2026-03-01T10:00:00Z", "user_id": "alex", "checksum": "sha256:00"},
    )
    assert [error.message for error in validator.iter_errors(foreign)] == []
    report = import_document(write_api, foreign).json()
    assert (report["memories_imported"], report["errors"]) == (1, [])
    # The export still promises everything it writes.
    schemas = document["components"]["schemas"]
    assert {"checksum_covers", "memory_count"} <= set(schemas["MifExportMeta"]["required"])
    assert "dimensions" in schemas["MifEmbeddings"]["required"]
