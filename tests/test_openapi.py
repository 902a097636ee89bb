"""The OpenAPI 3.1 document and the docs UI."""

import re
import uuid
from urllib.parse import urlsplit

import pytest
import yaml
from django.urls import resolve
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation import OpenAPIV31SpecValidator

from apps.accounts.models import User
from apps.products.models import NAME_MAX
from apps.scopes.models import Membership
from apps.scopes.services import workspace_create
from synchronex.api.openapi import NOT_BLANK
from synchronex.api.permissions import required_tier_for


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

    exported = ("X-Synchronex-Scope", "X-Synchronex-Tokens", "X-Synchronex-Truncated", "Content-Disposition")
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
            if method == "post" and status.startswith("2") and path.startswith("/api/v1/") and not _reads(op):
                assert "Idempotent-Replayed" in headers, (path, method, status)
            # Every creation says where the created resource is (OAuth registration: in its body, as
            # RFC 7591 has it, ``registration_client_uri``).
            if status == "201" and path.startswith("/api/v1/"):
                assert "Location" in headers, (path, method)


def _reads(op) -> bool:
    """Whether an operation only reads, as the server judges it (``ApiView.writes``): every OAuth
    scope that opens it is a read scope (a POST may: the kernel export's)."""
    scopes = _operation_security(op)[1]
    return bool(scopes) and all(scope.endswith(":read") for scope in scopes)


def _operation_security(op) -> tuple[list, list[str]]:
    """An operation's security requirements: the bearer ones, and the scopes of its ``oauth2`` ones
    (each an alternative: one of them is enough)."""
    bearer = [r for r in op.get("security", []) if "bearer" in r]
    scopes = sorted(scope for r in op.get("security", []) if "oauth2" in r for scope in r["oauth2"])
    return bearer, scopes


def test_the_oauth2_scheme_names_the_discovered_endpoints_and_the_scope_catalogue(api, base_url):
    document = api.get("/api/v1/openapi.json").json()
    discovery = api.get("/.well-known/oauth-authorization-server").json()
    scheme = document["components"]["securitySchemes"]["oauth2"]
    assert scheme["type"] == "oauth2"
    flow = scheme["flows"]["authorizationCode"]
    assert flow["authorizationUrl"] == discovery["authorization_endpoint"]
    assert flow["tokenUrl"] == flow["refreshUrl"] == discovery["token_endpoint"]
    assert sorted(flow["scopes"]) == sorted(discovery["scopes_supported"])
    assert all(flow["scopes"].values())  # each scope says what it grants
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_every_operation_lists_the_oauth_scopes_the_server_enforces(api, oauth_for):
    """Asked of the server: a token holding every scope but the documented ones is refused with
    exactly those in ``details.required_scopes``; one holding every scope is refused, with none, the
    operations that list no scope (API keys only)."""
    document = api.get("/api/v1/openapi.json").json()
    catalogue = set(document["components"]["securitySchemes"]["oauth2"]["flows"]["authorizationCode"]["scopes"])
    by_scopes: dict[tuple, list] = {}
    for path, method, op in _operations(document):
        if not path.startswith("/api/v1/"):
            # /healthz and OAuth: no credentials, but RFC 7592's registration access token.
            configuration = path == "/api/oauth/register/{client_id}"
            assert op.get("security", []) == ([{"registrationToken": []}] if configuration else []), path
            continue
        bearer, scopes = _operation_security(op)
        assert bearer == [{"bearer": []}], (path, method)
        assert set(scopes) <= catalogue, (path, method)
        by_scopes.setdefault(tuple(scopes), []).append((path, method))
    assert by_scopes[("byok:write",)] and by_scopes[("decisions:read", "memory:read")]
    assert ("/api/v1/workspaces", "post") in by_scopes[()]
    for scopes, operations in by_scopes.items():
        lacking = oauth_for(" ".join(sorted(catalogue - set(scopes))))
        for path, method in operations:
            response = lacking.request(method.upper(), _fill(path))
            assert response.status_code == 403, (path, method, response.text)
            assert sorted(response.json()["error"]["details"]["required_scopes"]) == list(scopes), (path, method)


def _refusal(response) -> tuple[str | None, dict]:
    """A 403's error code and details (None for any other answer)."""
    if response.status_code != 403:
        return None, {}
    error = response.json()["error"]
    return error["code"], error.get("details", {})


def test_every_operation_names_the_plan_the_server_asks_for(make_user, client_for):
    """Asked of the server, as a free account (owning a workspace made while it was on the team
    plan): exactly the operations whose document names a plan (``x-required-tier``, and
    TIER_REQUIRED in their 403) refuse it TIER_REQUIRED, naming that plan; where the permission
    layer gates the operation, that plan is also the view's ``required_tier_for``."""
    owner, other = make_user(tier="team"), make_user()
    workspace = workspace_create(owner=owner, name="Crew", kind="team")
    User.objects.filter(pk=owner.pk).update(tier="free")
    client = client_for(owner)
    document = client.get("/api/v1/openapi.json").json()
    # The two whose service checks the plan after reading the body get one it takes.
    bodies = {
        ("/api/v1/workspaces", "post"): {"name": "Crew", "kind": "team"},
        ("/api/v1/workspaces/{workspace_id}/members", "post"): {"email": other.email, "role": "member"},
    }
    gated = set()
    for path, method, op in _operations(document):
        if not path.startswith("/api/v1/"):
            continue
        filled = _fill(path.replace("{workspace_id}", str(workspace.id)))
        body = bodies.get((path, method), {} if method in {"post", "put", "patch"} else None)
        code, details = _refusal(client.request(method.upper(), filled, json=body))
        asked = details["required_tier"] if code == "TIER_REQUIRED" else None
        declared = op.get("x-required-tier")
        assert asked == declared, (path, method, asked, declared)
        assert ("TIER_REQUIRED" in op["responses"]["403"]["description"]) == (declared is not None), (path, method)
        enforced = required_tier_for(resolve(filled).func.cls, method.upper())
        assert enforced in (None, declared), (path, method)
        if declared:
            assert f"the {declared} plan" in op["responses"]["403"]["description"], (path, method)
            gated.add((path, method))
    assert {("/api/v1/ai/costs", "get"), ("/api/v1/byok", "post"), ("/api/v1/workspaces", "post")} <= gated
    assert ("/api/v1/byok", "get") not in gated


def test_every_operation_writing_into_the_active_scope_declares_the_viewers_refusal(make_user, client_for):
    """Asked of the server: the operations that refuse a workspace's viewer (with a write key)
    FORBIDDEN are exactly those whose 403 names that refusal."""
    owner, viewer = make_user(tier="team"), make_user()
    workspace = workspace_create(owner=owner, name="Crew", kind="team")
    Membership.objects.create(space=workspace, user=viewer, role="viewer")
    client = client_for(viewer)
    document = client.get("/api/v1/openapi.json").json()
    refusing, declaring = set(), set()
    for path, method, op in _operations(document):
        if not path.startswith("/api/v1/"):
            continue
        body = {} if method in {"post", "put", "patch"} else None
        response = client.request(
            method.upper(), _fill(path), json=body, headers={"X-Synchronex-Scope": str(workspace.id)}
        )
        if _refusal(response)[0] == "FORBIDDEN":
            refusing.add((path, method))
        if "viewer of the active workspace" in op["responses"]["403"]["description"]:
            declaring.add((path, method))
    assert refusing == declaring
    assert ("/api/v1/memory/identity", "put") in refusing and ("/api/v1/kernel/export", "post") not in refusing


def test_member_management_declares_the_role_refusals_it_answers(make_user, client_for):
    """Who may manage members is decided by the role (the service), not by a scope or a plan: the
    403 of adding and removing members says so, and a member is refused as it says."""
    owner, member, other = make_user(tier="team"), make_user(), make_user()
    workspace = workspace_create(owner=owner, name="Crew", kind="team")
    Membership.objects.create(space=workspace, user=member, role="member")
    Membership.objects.create(space=workspace, user=other, role="member")
    client = client_for(member)
    document = client.get("/api/v1/openapi.json").json()
    members = "/api/v1/workspaces/{workspace_id}/members"
    for path, method in ((members, "post"), (members + "/{user_id}", "delete")):
        description = document["paths"][path][method]["responses"]["403"]["description"]
        assert description.startswith("The token lacks a scope"), description  # the generated part stays
        assert "only its owner and admins" in description and "only the owner does" in description
    added = client.post(f"/api/v1/workspaces/{workspace.id}/members", json={"email": other.email, "role": "viewer"})
    removed = client.delete(f"/api/v1/workspaces/{workspace.id}/members/{other.id}")
    assert _refusal(added)[0] == _refusal(removed)[0] == "FORBIDDEN"


def _query_schema(document, path: str, method: str, name: str) -> dict:
    params = document["paths"][path][method].get("parameters", [])
    found = (_resolve(document, p) for p in params)
    return next(p for p in found if p["name"] == name and p["in"] == "query")


def _document_allows_query(document, path: str, name: str, value: str) -> bool:
    """Whether the document allows ``value`` (as sent in the URL) for a GET's query parameter."""
    parameter = _query_schema(document, path, "get", name)
    schema = parameter["schema"]
    if schema.get("type") == "array":  # style form, explode false: comma-separated
        assert parameter.get("style", "form") == "form" and parameter.get("explode") is False, name
        instance = value.split(",")
    elif schema.get("type") in ("integer", "number"):
        instance = float(value) if "." in value else int(value)
    else:
        instance = value
    return Draft202012Validator(schema, format_checker=None).is_valid(instance)


def _document_allows_body(document, path: str, method: str, body) -> bool:
    request = document["paths"][path][method]["requestBody"]
    schema = {**request["content"]["application/json"]["schema"], "components": document["components"]}
    return Draft202012Validator(schema).is_valid(body)


# (path, parameter, values the server takes, values it refuses): each refused one is a
# VALIDATION_ERROR naming the parameter, and the document must refuse it too.
QUERY_BOUNDS = [
    ("/api/v1/memory/decisions/search", "q", ["q" * 500], ["q" * 501]),
    ("/api/v1/memory/decisions/search", "token_budget", ["1", "100000"], ["0", "100001"]),
    ("/api/v1/memory/decisions/search", "half_life_days", ["0.5", "36500"], ["0", "-1", "36500.5"]),
    ("/api/v1/memory/decisions/search", "product", ["p" * 100], ["", " ", "p" * 101]),
    ("/api/v1/memory/search", "q", ["q", "q" * 500], ["", "  ", "q" * 501]),
    ("/api/v1/memory/search", "types", ["identity", "decision,signal"], ["bogus", "identity,", ""]),
    ("/api/v1/memory/search", "product", ["p" * 100], ["", " ", "p" * 101]),
    ("/api/v1/memory/export-mif", "types", ["identity", "product,memory"], ["bogus", "signal", ""]),
]


@pytest.mark.parametrize(("path", "name", "taken", "refused"), QUERY_BOUNDS)
def test_query_bounds_the_server_enforces_are_in_the_document(write_api, path, name, taken, refused):
    document = write_api.get("/api/v1/openapi.json").json()
    required = {"q": "atlas"} if path.endswith("/memory/search") and name != "q" else {}
    for value in taken:
        response = write_api.get(path, params={**required, name: value})
        assert response.status_code == 200, (name, value, response.text)
        assert _document_allows_query(document, path, name, value), (name, value)
    for value in refused:
        response = write_api.get(path, params={**required, name: value})
        assert response.status_code == 400, (name, value, response.text)
        assert name in response.json()["error"]["details"]["fields"], (name, value)
        assert not _document_allows_query(document, path, name, value), (name, value)


# Every path or query parameter that takes a product name, with the schema of the name rule
# (``apps.products.names``: trimmed, then 1–100 characters).
PRODUCT_NAME_SCHEMA = {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": NOT_BLANK}
# Where an empty value means "no product": the same rule, or the empty string.
PRODUCT_NAME_OR_EMPTY = {**PRODUCT_NAME_SCHEMA, "minLength": 0, "pattern": r"^$|\S"}
PRODUCT_NAME_PARAMETERS = {
    ("/api/v1/memory/product/{name}/state", "get", "path", "name"): PRODUCT_NAME_SCHEMA,
    ("/api/v1/memory/product/{name}/state", "post", "path", "name"): PRODUCT_NAME_SCHEMA,
    ("/api/v1/ai/costs/{product}", "get", "path", "product"): PRODUCT_NAME_SCHEMA,
    ("/api/v1/ingest/{project_id}", "post", "path", "project_id"): PRODUCT_NAME_SCHEMA,
    ("/api/v1/memory/search", "get", "query", "product"): PRODUCT_NAME_SCHEMA,
    ("/api/v1/memory/decisions/search", "get", "query", "product"): PRODUCT_NAME_SCHEMA,
    ("/api/v1/kernel/export", "get", "query", "product"): PRODUCT_NAME_OR_EMPTY,
}


def test_every_product_name_parameter_states_the_name_rule(api):
    document = api.get("/api/v1/openapi.json").json()
    found = {}
    for path, method, op in _operations(document):
        for parameter in (_resolve(document, p) for p in op.get("parameters", [])):
            if parameter["in"] in ("path", "query") and parameter["name"] in ("name", "product", "project_id"):
                found[(path, method, parameter["in"], parameter["name"])] = parameter["schema"]
    assert set(found) == set(PRODUCT_NAME_PARAMETERS)
    for key, schema in sorted(PRODUCT_NAME_PARAMETERS.items()):
        assert found[key] == schema, (key, found[key])
    # ``project_id`` names a product by its id too.
    assert Draft202012Validator(PRODUCT_NAME_SCHEMA).is_valid(str(uuid.uuid4()))
    # POST /kernel/export takes the same ``product`` in its body, and null for none.
    body = document["paths"]["/api/v1/kernel/export"]["post"]["requestBody"]["content"]["application/json"]
    properties = _resolve(document, body["schema"])["properties"]
    assert properties["product"] == {**PRODUCT_NAME_OR_EMPTY, "type": ["string", "null"]}, properties["product"]


def test_the_kernel_exports_product_is_refused_exactly_as_the_document_says(write_api):
    """``""`` (and null in the body) is "no product"; a blank non-empty name is refused, as the
    document says; a name no product has is NOT_FOUND, which the document cannot say."""
    document = write_api.get("/api/v1/openapi.json").json()
    path = "/api/v1/kernel/export"
    assert write_api.post(f"/api/v1/memory/product/{'p' * NAME_MAX}/state", json={}).status_code == 201
    for value in ("", "p" * NAME_MAX):
        assert write_api.get(path, params={"product": value}).status_code == 200, repr(value)
        assert write_api.post(path, json={"product": value}).status_code == 200, repr(value)
        assert _document_allows_query(document, path, "product", value), repr(value)
        assert _document_allows_body(document, path, "post", {"product": value}), repr(value)
    assert write_api.post(path, json={"product": None}).status_code == 200
    assert _document_allows_body(document, path, "post", {"product": None})
    for value in (" ", "\t", "p" * (NAME_MAX + 1)):
        for response in (write_api.get(path, params={"product": value}), write_api.post(path, json={"product": value})):
            assert response.status_code == 400, (repr(value), response.text)
            assert list(response.json()["error"]["details"]["fields"]) == ["product"], response.text
        assert not _document_allows_query(document, path, "product", value), repr(value)
        assert not _document_allows_body(document, path, "post", {"product": value}), repr(value)


# (method, documented path, its name parameter, body): each route taking a product name in its path.
PRODUCT_NAME_PATHS = [
    ("POST", "/api/v1/memory/product/{name}/state", "name", {}),
    ("GET", "/api/v1/memory/product/{name}/state", "name", None),
    ("GET", "/api/v1/ai/costs/{product}", "product", None),
    ("POST", "/api/v1/ingest/{project_id}", "project_id", {"type": "note", "title": "n"}),
]


@pytest.mark.parametrize(("method", "path", "name", "body"), PRODUCT_NAME_PATHS)
def test_product_names_in_paths_are_refused_exactly_as_the_document_says(
    make_user, client_for, method, path, name, body
):
    client = client_for(make_user(tier="enterprise"), "write")
    document = client.get("/api/v1/openapi.json").json()
    (parameter,) = (p for p in document["paths"][path][method.lower()]["parameters"] if p["in"] == "path")
    schema = Draft202012Validator(parameter["schema"])
    longest = "p" * NAME_MAX
    assert client.post(f"/api/v1/memory/product/{longest}/state", json={}).status_code in (200, 201)
    taken = client.request(method, path.replace("{" + name + "}", longest), json=body)
    assert taken.status_code < 300 and schema.is_valid(longest), taken.text
    for refused in (" ", "\t", "p" * (NAME_MAX + 1)):
        response = client.request(method, path.replace("{" + name + "}", refused), json=body)
        assert response.status_code == 400, (repr(refused), response.text)
        assert list(response.json()["error"]["details"]["fields"]) == [name], response.text
        assert not schema.is_valid(refused), repr(refused)


def test_the_idempotency_key_parameter_states_the_keys_the_server_takes(write_api):
    document = write_api.get("/api/v1/openapi.json").json()
    operation = document["paths"]["/api/v1/memory/decisions"]["post"]
    schema = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")["schema"]
    body = {"decision": "Use PostgreSQL", "product_name": "Atlas"}
    for key in ("k", "~" * 255):
        response = write_api.post("/api/v1/memory/decisions", json=body, headers={"Idempotency-Key": key})
        assert response.status_code == 201, (key, response.text)
        assert Draft202012Validator(schema).is_valid(key), key
    for key in ("k" * 256, "with space", "é"):
        headers = {"Idempotency-Key": key.encode("utf-8")}
        response = write_api.post("/api/v1/memory/decisions", json=body, headers=headers)
        assert response.status_code == 400, (key, response.text)
        assert not Draft202012Validator(schema).is_valid(key), key


def _kernel_product(index: int) -> dict:
    return {"name": f"Product {index}"}


# (path, method, bodies the server takes, bodies it refuses as a VALIDATION_ERROR)
BODY_BOUNDS = [
    (
        "/api/v1/memory/identity",
        "put",
        [{"products": [_kernel_product(i) for i in range(10)]}, {"model_preferences": {"routing": {"t" * 100: "m"}}}],
        [
            {},
            {"products": [_kernel_product(i) for i in range(11)]},
            {"model_preferences": {"routing": {f"task {i}": "m" for i in range(21)}}},
            {"model_preferences": {"routing": {"t" * 101: "m"}}},
            {"model_preferences": {"routing": {" ": "m"}}},
            {"identity": {"name": "Ada"}, "unknown": 1},
            {"identity": {"name": "Ada", "unknown": 1}},
        ],
    ),
    (
        "/api/v1/ingest/atlas",
        "post",
        [
            {"type": "note", "title": "n" * 500},
            {"type": "decision", "title": "d" * 2000},
            {"signals": [{"type": "note", "title": f"n{i}"} for i in range(100)]},
        ],
        [
            {"type": "note", "title": "n" * 501},
            {"type": "blocker", "title": "b" * 501},
            {"type": "decision", "title": "d" * 2001},
            {"signals": []},
            {"signals": [{"type": "note", "title": f"n{i}"} for i in range(101)]},
            {"type": "note", "title": "n", "unknown": 1},
        ],
    ),
    ("/api/v1/memory/decisions", "post", [], [{"decision": "d", "product_name": "Atlas", "unknown": 1}]),
    ("/api/v1/workspaces", "post", [], [{"name": "Crew", "kind": "team", "unknown": 1}]),
]


@pytest.mark.parametrize(("path", "method", "taken", "refused"), BODY_BOUNDS)
def test_body_bounds_the_server_enforces_are_in_the_document(make_user, client_for, path, method, taken, refused):
    client = client_for(make_user(tier="enterprise"), "write")
    document = client.get("/api/v1/openapi.json").json()
    documented = "/api/v1/ingest/{project_id}" if path.startswith("/api/v1/ingest/") else path
    assert document["paths"][documented][method]["requestBody"]["required"] is True
    for body in taken:
        response = client.request(method.upper(), path, json=body)
        assert response.status_code < 300, (body, response.text)
        assert _document_allows_body(document, documented, method, body), str(body)[:200]
    for body in refused:
        response = client.request(method.upper(), path, json=body)
        assert response.status_code == 400, (str(body)[:200], response.text)
        assert not _document_allows_body(document, documented, method, body), str(body)[:200]
    assert client.request(method.upper(), path).status_code == 400  # no body at all


def test_every_request_body_says_whether_it_is_required_and_closed(make_user, client_for):
    """Asked of the server: an operation refusing a request without a body (VALIDATION_ERROR)
    declares its body required, and one whose JSON body refuses ``{"zz_unknown": 1}`` naming the
    field declares ``additionalProperties: false`` (on each alternative of a ``oneOf``)."""
    client = client_for(make_user(tier="enterprise"), "write")
    document = client.get("/api/v1/openapi.json").json()
    for path, method, op in _operations(document):
        content = op.get("requestBody", {}).get("content", {}).get("application/json")
        if content is None or not path.startswith("/api/v1/"):
            continue  # (OAuth registration ignores unknown metadata, as RFC 7591 §2 asks)
        bodiless = client.request(method.upper(), _fill(path))
        if bodiless.status_code == 400 or bodiless.ok:
            assert op["requestBody"].get("required", False) == (bodiless.status_code == 400), (path, bodiless.text)
        response = client.request(method.upper(), _fill(path), json={"zz_unknown": 1})
        fields = response.json().get("error", {}).get("details", {}).get("fields", {})
        refused = fields.get("zz_unknown") == ["Unknown field."]
        root = _resolve(document, content["schema"]) if "$ref" in content["schema"] else content["schema"]
        alternatives = [_resolve(document, s) for s in root.get("oneOf", [])] or [root]
        objects = [alternative for alternative in alternatives if alternative.get("type") != "array"]
        closed = all(alternative.get("additionalProperties") is False for alternative in objects)
        assert closed == refused, (path, method, response.text)


def test_every_operation_declares_the_body_refusals_a_get_or_delete_can_get(write_api, settings):
    """A body over the limit (413) or with a Content-Encoding (415) is refused on any method."""
    settings.MAX_BODY_BYTES = 64
    paths = write_api.get("/api/v1/openapi.json").json()["paths"]
    for path, method, op in _operations({"paths": paths}):
        if path.startswith("/api/v1/"):
            assert {"413", "415"} <= set(op["responses"]), (path, method)
    gzipped = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    for method, path in (("GET", "/api/v1/memory/identity"), ("DELETE", f"/api/v1/byok/{uuid.uuid4()}")):
        assert write_api.request(method, path, data=b"\x1f\x8b", headers=gzipped).status_code == 415, path
        assert write_api.request(method, path, json={"pad": "x" * 100}).status_code == 413, path


def test_a_replayed_unsupported_media_type_declares_the_replay_header(write_api):
    paths = write_api.get("/api/v1/openapi.json").json()["paths"]
    once = {"data": "plain", "headers": {"Content-Type": "text/plain", "Idempotency-Key": "plain-once"}}
    write_api.post("/api/v1/memory/decisions", **once)
    replayed = write_api.post("/api/v1/memory/decisions", **once)
    assert replayed.status_code == 415 and replayed.headers["Idempotent-Replayed"] == "true"
    for path, method, op in _operations({"paths": paths}):
        if method == "post" and path.startswith("/api/v1/") and not _reads(op):
            assert "Idempotent-Replayed" in op["responses"]["415"]["headers"], path


def test_a_post_that_only_reads_declares_its_idempotency_key_ignored(write_api):
    """Asked of the server: the kernel export's POST (a read by its scopes) is answered afresh under
    a repeated key, and every read POST says so, with no replay header and no key CONFLICT; every
    other POST still replays."""
    document = write_api.get("/api/v1/openapi.json").json()
    headers = {"Idempotency-Key": "read-twice"}
    write_api.post("/api/v1/kernel/export", json={}, headers=headers)
    assert "Idempotent-Replayed" not in write_api.post("/api/v1/kernel/export", json={}, headers=headers).headers
    reads = set()
    for path, method, op in _operations(document):
        if method != "post" or not path.startswith("/api/v1/"):
            continue
        described = _parameter(document, op, "Idempotency-Key")["description"]
        if _reads(op):
            reads.add(path)
            assert "ignored" in described and "Replays" not in described, path
            assert "409" not in op["responses"], path
            assert not any("Idempotent-Replayed" in r.get("headers", {}) for r in op["responses"].values()), path
        else:
            assert "Replays the first response" in described, path
    assert "/api/v1/kernel/export" in reads


def _response_schema(document, path: str, method: str, status: str) -> dict:
    content = document["paths"][path][method]["responses"][status]["content"]["application/json"]
    return {**content["schema"], "components": document["components"]}


def test_the_oauth_endpoints_are_described_as_they_answer(api, person):
    from apps.oauth.tests.helpers import REDIRECT_URI, obtain_tokens

    document = api.get("/api/v1/openapi.json").json()
    for path in ("/api/oauth/token", "/api/oauth/revoke", "/api/oauth/register"):
        assert document["paths"][path]["post"]["security"] == [], path

    created = api.post("/api/oauth/register", json={"redirect_uris": [REDIRECT_URI], "client_name": "Notes"})
    assert created.status_code == 201, created.text
    assert Draft202012Validator(_response_schema(document, "/api/oauth/register", "post", "201")).is_valid(
        created.json()
    )
    refused = api.post("/api/oauth/register", json={"redirect_uris": ["http://notes.example.com/cb"]})
    assert refused.status_code == 400
    assert Draft202012Validator(_response_schema(document, "/api/oauth/register", "post", "400")).is_valid(
        refused.json()
    )

    client_id = created.json()["client_id"]
    _, tokens = obtain_tokens(api.base_url, person.email, scope="memory:read", client=created.json())
    assert Draft202012Validator(_response_schema(document, "/api/oauth/token", "post", "200")).is_valid(tokens)
    bad = api.post("/api/oauth/token", data={"grant_type": "authorization_code", "code": "x", "client_id": client_id})
    assert bad.status_code == 400
    assert Draft202012Validator(_response_schema(document, "/api/oauth/token", "post", "400")).is_valid(bad.json())
    revoked = api.post("/api/oauth/revoke", data={"token": tokens["refresh_token"], "client_id": client_id})
    assert revoked.status_code == 200


def test_the_client_configuration_endpoint_is_described_as_it_answers(api):
    """RFC 7592, at the ``registration_client_uri`` registration answers: read, update and delete
    with the registration access token, as the document says."""
    from apps.oauth.tests.helpers import REDIRECT_URI

    document = api.get("/api/v1/openapi.json").json()
    path = "/api/oauth/register/{client_id}"
    assert set(document["paths"][path]) == {"get", "put", "delete"}
    scheme = document["components"]["securitySchemes"]["registrationToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    for method in ("get", "put", "delete"):
        operation = document["paths"][path][method]
        assert operation["security"] == [{"registrationToken": []}], method
        assert [(p["name"], p["in"]) for p in operation["parameters"] if p["in"] == "path"] == [("client_id", "path")]

    def described(response, method: str) -> None:
        declared = document["paths"][path][method]["responses"][str(response.status_code)]
        for name in declared.get("headers", {}):
            if name != "X-Request-ID":
                assert name in response.headers, (method, response.status_code, name)
        if "content" in declared:
            schema = {**declared["content"]["application/json"]["schema"], "components": document["components"]}
            Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER).validate(response.json())
        else:
            assert response.content == b"", (method, response.status_code)

    created = api.post("/api/oauth/register", json={"redirect_uris": [REDIRECT_URI], "client_name": "Notes"}).json()
    url = urlsplit(created["registration_client_uri"]).path
    assert url == path.replace("{client_id}", created["client_id"])
    auth = {"Authorization": f"Bearer {created['registration_access_token']}"}
    read = api.get(url, headers=auth)
    assert read.status_code == 200
    described(read, "get")
    for method in ("get", "put", "delete"):
        refused = api.request(method.upper(), url, headers={"Authorization": "Bearer nope"})
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_token", refused.text
        described(refused, method)

    put = document["paths"][path]["put"]
    body_schema = {**put["requestBody"]["content"]["application/json"]["schema"], "components": document["components"]}
    body = {"client_id": created["client_id"], "redirect_uris": [REDIRECT_URI], "client_name": "Notes 2"}
    assert put["requestBody"]["required"] is True and Draft202012Validator(body_schema).is_valid(body)
    assert not Draft202012Validator(body_schema).is_valid({"redirect_uris": [REDIRECT_URI]})  # client_id: RFC 7592 §2.2
    bad = api.put(url, json={**body, "redirect_uris": ["http://notes.example.com/cb"]}, headers=auth)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_redirect_uri", bad.text
    described(bad, "put")
    unnamed = api.put(url, json={"redirect_uris": [REDIRECT_URI]}, headers=auth)
    assert unnamed.status_code == 400 and unnamed.json()["error"] == "invalid_client_metadata", unnamed.text
    described(unnamed, "put")
    updated = api.put(url, json=body, headers=auth)
    assert updated.status_code == 200, updated.text
    described(updated, "put")

    auth = {"Authorization": f"Bearer {updated.json()['registration_access_token']}"}
    deleted = api.delete(url, headers=auth)
    assert deleted.status_code == 204
    described(deleted, "delete")
    gone = api.get(url, headers=auth)
    assert gone.status_code == 401
    described(gone, "get")


def test_account_emails_in_answers_are_declared_idn_email(api):
    # An account may have any address (``jürgen@ex.com``: members are added by it), which
    # ``format: email`` (ASCII only, RFC 5321) would call invalid.
    schemas = api.get("/api/v1/openapi.json").json()["components"]["schemas"]
    found = {
        (name, field): spec.get("format")
        for name, schema in schemas.items()
        for field, spec in schema.get("properties", {}).items()
        if "email" in field and spec.get("type") == "string"
    }
    answers = {key: fmt for key, fmt in found.items() if key[0] not in ("MemberAddRequest",)}
    assert answers and set(answers.values()) == {"idn-email"}, answers


def test_a_conflict_is_documented_only_where_one_can_happen(write_api):
    """Asked of the server: PUT and PATCH read no Idempotency-Key (only a POST does), so the same key
    with two different bodies is no CONFLICT there, and neither operation, whose services raise none,
    lists a 409. Every write POST lists it, for its key; any other 409 is one its service declares."""
    for role in ("r1", "r2"):
        response = write_api.put(
            "/api/v1/memory/identity", json={"identity": {"role": role}}, headers={"Idempotency-Key": "same-key"}
        )
        assert response.status_code == 200 and response.json()["identity"]["role"] == role, response.text
    document = write_api.get("/api/v1/openapi.json").json()
    for path, method in (("/api/v1/memory/identity", "put"), ("/api/v1/scope", "patch")):
        assert "409" not in document["paths"][path][method]["responses"], (path, method)
    for path, method, op in _operations(document):
        if not path.startswith("/api/v1/") or _reads(op):
            continue
        conflict = op["responses"].get("409", {}).get("description", "")
        if method == "post":
            assert "Idempotency-Key" in conflict, (path, method)
        else:
            assert "Idempotency-Key" not in conflict and _parameter(document, op, "Idempotency-Key") is None, path
