"""The OpenAPI 3.1 document and the docs UI."""

import re
import uuid

import pytest
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


def _operations(document):
    return [
        (path, method, op)
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "post", "put", "patch", "delete"}
    ]


def _resolve(document, item: dict) -> dict:
    """A parameter or header, with a ``$ref`` into ``components`` followed."""
    if "$ref" not in item:
        return item
    _, _, section, name = item["$ref"].split("/")
    return document["components"][section][name]


def _parameter(document, operation, name: str) -> dict | None:
    found = [_resolve(document, p) for p in operation.get("parameters", [])]
    return next((p for p in found if p["name"] == name and p["in"] == "header"), None)


@pytest.mark.usefixtures("broker_on_test_database")  # /healthz answers 200
def test_every_operation_takes_and_every_response_declares_x_request_id(api):
    document = api.get("/api/v1/openapi.json").json()
    for path, method, op in _operations(document):
        assert _parameter(document, op, "X-Request-ID")["required"] is False, (path, method)
        for status, response in op["responses"].items():
            header = _resolve(document, response.get("headers", {}).get("X-Request-ID", {}))
            assert header.get("required") is True, (path, method, status)
    pattern = _resolve(document, {"$ref": "#/components/headers/RequestId"})["schema"]["pattern"]
    assert api.get("/healthz", headers={"X-Request-ID": "trace-42"}).headers["X-Request-ID"] == "trace-42"
    for insane in ("not sane!", "x" * 129):
        response = api.get("/healthz", headers={"X-Request-ID": insane})
        assert response.status_code == 200  # replaced, never refused
        assert response.headers["X-Request-ID"] != insane and re.fullmatch(pattern, response.headers["X-Request-ID"])


def _fill(path: str) -> str:
    """The path with its parameters filled in: ids as UUIDs, names as a plain word."""
    return re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1).endswith("_id") else "atlas", path)


def test_every_operation_acting_on_the_active_scope_declares_the_scope_header_and_notice(write_api):
    """Which operations resolve the active scope is asked of the server: an unparseable
    X-Synchronex-Scope is refused naming the header only by those that read it."""
    document = write_api.get("/api/v1/openapi.json").json()
    acting, declaring = set(), set()
    for path, method, op in _operations(document):
        if not path.startswith("/api/v1/"):
            continue
        params = {"q": "atlas"} if path.endswith("search") else None
        body = {} if method in {"post", "put", "patch"} else None
        response = write_api.request(
            method.upper(), _fill(path), params=params, json=body, headers={"X-Synchronex-Scope": "not-a-scope"}
        )
        fields = response.json()["error"].get("details", {}).get("fields", {}) if response.status_code == 400 else {}
        if "X-Synchronex-Scope" in fields:
            acting.add((path, method))
        if _parameter(document, op, "X-Synchronex-Scope") is not None:
            declaring.add((path, method))
            for status in ("200", "201", "202", "204"):
                if status in op["responses"]:
                    headers = op["responses"][status]["headers"]
                    assert "X-Synchronex-Scope-Notice" in headers, (path, method, status)
    assert acting == declaring
    assert ("/api/v1/memory/product/{name}/state", "post") in acting and ("/api/v1/scope", "patch") not in acting


def test_product_state_responses_declare_the_etag_header(api):
    document = api.get("/api/v1/openapi.json").json()
    item = document["paths"]["/api/v1/memory/product/{name}/state"]
    for method, status in (("get", "200"), ("post", "200"), ("post", "201")):
        assert "ETag" in item[method]["responses"][status]["headers"], (method, status)


def test_headers_the_server_sends_are_declared(api, make_user, client_for):
    """Each header below is sent by the server (asked here) and declared where it is sent."""
    client = client_for(make_user(tier="pro"), "write")
    paths = api.get("/api/v1/openapi.json").json()["paths"]

    def assert_sent_and_declared(response, path, method, status, *names):
        assert response.status_code == int(status), response.text
        declared = paths[path][method]["responses"][status].get("headers", {})
        for name in names:
            assert name in response.headers, (path, method, name)
            assert name in declared, (path, method, status, name)

    exported = ("X-Synchronex-Scope", "X-Synchronex-Tokens", "Content-Disposition")
    sent = client.get("/api/v1/kernel/export", params={"download": "true"})
    assert_sent_and_declared(sent, "/api/v1/kernel/export", "get", "200", *exported)
    sent = client.post("/api/v1/kernel/export", json={"download": True})
    assert_sent_and_declared(sent, "/api/v1/kernel/export", "post", "200", *exported)
    sent = client.post("/api/v1/memory/consolidate", json={})
    assert_sent_and_declared(sent, "/api/v1/memory/consolidate", "post", "202", "Location")

    once = {
        "json": {"decision": "Cache the pricing table", "product_name": "Atlas"},
        "headers": {"Idempotency-Key": "k"},
    }
    client.post("/api/v1/memory/decisions", **once)
    sent = client.post("/api/v1/memory/decisions", **once)
    assert_sent_and_declared(sent, "/api/v1/memory/decisions", "post", "201", "Idempotent-Replayed")
    sent = api.get("/api/v1/memory/identity")
    assert_sent_and_declared(sent, "/api/v1/memory/identity", "get", "401", "WWW-Authenticate")
    sent = client_for(make_user(tier="pro"), "read").post("/api/v1/memory/decisions", json=once["json"])
    assert_sent_and_declared(sent, "/api/v1/memory/decisions", "post", "403", "WWW-Authenticate")
    sent = client.post("/api/v1/memory/decisions", data="plain", headers={"Content-Type": "text/plain"})
    assert_sent_and_declared(sent, "/api/v1/memory/decisions", "post", "415", "X-RateLimit-Remaining")
    gzipped = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    sent = client.post("/api/v1/memory/decisions", data=b"\x1f\x8b", headers=gzipped)
    assert_sent_and_declared(sent, "/api/v1/memory/decisions", "post", "415", "Accept-Encoding")

    for path, method, op in _operations({"paths": paths}):
        for status, response in op["responses"].items():
            headers = response.get("headers", {})
            if status == "401":
                assert "WWW-Authenticate" in headers, (path, method)
            if method == "post" and status.startswith("2") and path.startswith("/api/v1/"):
                assert "Idempotent-Replayed" in headers, (path, method, status)
            if status == "201":  # every creation says where the created resource is
                assert "Location" in headers, (path, method)
