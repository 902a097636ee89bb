"""Both MIF routes are fully described in the OpenAPI document."""

import pytest

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
    assert len(body["oneOf"]) == 2  # a MIF document or a mem0 array
    result = imported["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert set(schemas[result]["required"]) >= {
        "memories_imported",
        "decisions_imported",
        "products_imported",
        "duplicates_skipped",
        "errors",
        "dry_run",
    }
    for status in ("413", "415"):
        error = imported["responses"][status]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}
