"""The OpenAPI 3.1 document and the docs UI."""

import re

import yaml
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator


def test_json_document_is_valid_openapi_3_1(api):
    response = api.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert (
        response.headers["Content-Type"].startswith("application/json") or "openapi" in response.headers["Content-Type"]
    )
    document = response.json()
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_yaml_documents_match_the_json_one(api):
    document = api.get("/api/v1/openapi.json").json()
    for path in ("/api/v1/openapi.yaml", "/openapi.yaml"):
        response = api.get(path)
        assert response.status_code == 200
        assert yaml.safe_load(response.text) == document


def test_every_operation_documents_errors_and_rate_limits(api):
    document = api.get("/api/v1/openapi.json").json()
    operations = [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if path.startswith("/api/v1/") and method in {"get", "post", "put", "patch", "delete"}
    ]
    assert operations
    for path, method, op in operations:
        assert {"400", "401", "403", "404", "429", "500"} <= set(op["responses"]), (path, method)
        assert op["responses"]["401"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
        if method == "post":
            assert any(p["name"] == "Idempotency-Key" for p in op["parameters"]), path
    assert "/healthz" in document["paths"]


def test_docs_ui_uses_local_assets_only(api):
    response = api.get("/api/v1/docs")
    assert response.status_code == 200
    assets = re.findall(r'(?:src|href)="([^"]+)"', response.text)
    assert assets
    for asset in assets:
        assert not asset.startswith(("http://", "https://", "//")), asset
        if asset.startswith("/static/"):
            assert api.get(asset).status_code == 200, asset
