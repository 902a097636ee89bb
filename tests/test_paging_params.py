"""Every paged list route answers a query parameter it does not know (``?limt=1``) with a
VALIDATION_ERROR naming it, as the searches, costs and MIF export do: ignoring a misspelt
``limit`` or ``offset`` would answer another page than the one asked for."""

from __future__ import annotations

import pytest

from tests.test_openapi import _fill, _operations

pytestmark = pytest.mark.django_db(transaction=True)

# Each paged route, with the query it needs to answer at all (the searches take ``q``).
ROUTES = {
    "/api/v1/memory/products": {},
    "/api/v1/sessions": {},
    "/api/v1/memory/identity/history": {},
    "/api/v1/workspaces": {},
    "/api/v1/byok": {},
    "/api/v1/memory/decisions/search": {"q": "pricing"},
    "/api/v1/memory/search": {"q": "pricing"},
}
ROUTE_IDS = list(ROUTES)


def fields_of(response) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR", error
    return error["details"]["fields"]


@pytest.mark.parametrize("path", ROUTE_IDS)
def test_misspelt_paging_parameters_are_named_not_ignored(write_api, path):
    response = write_api.get(path, params={**ROUTES[path], "limt": "1", "offest": "3"})

    assert fields_of(response) == {"limt": ["Unknown query parameter."], "offest": ["Unknown query parameter."]}


@pytest.mark.parametrize("path", ROUTE_IDS)
def test_an_unknown_parameter_is_named_with_a_bad_limit(write_api, path):
    response = write_api.get(path, params={**ROUTES[path], "limit": "0", "colour": "red"})

    assert set(fields_of(response)) == {"limit", "colour"}


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/api/v1/memory/decisions/search", {"since": "yesterday", "limit": "0"}, {"since", "limit"}),
        (
            "/api/v1/memory/decisions/search",
            {"include_related": "maybe", "offset": "-1"},
            {"include_related", "offset"},
        ),
        ("/api/v1/memory/search", {"q": "", "offset": "-1"}, {"q", "offset"}),
        ("/api/v1/memory/search", {"types": "bogus", "offset": "-5", "limit": "x"}, {"q", "types", "offset", "limit"}),
    ],
)
def test_searches_name_a_bad_page_with_their_other_problems(write_api, path, params, named):
    response = write_api.get(path, params=params)

    assert set(fields_of(response)) == named
    assert response.json()["error"]["message"] == "Some query parameters are not valid."


@pytest.mark.parametrize("path", ROUTE_IDS)
def test_a_repeated_limit_is_a_validation_error(write_api, path):
    response = write_api.get(path, params={**ROUTES[path], "limit": ["1", "50"]})

    assert fields_of(response) == {"limit": ["Give this parameter at most once."]}


@pytest.mark.parametrize("path", ROUTE_IDS)
def test_known_parameters_still_page(write_api, path):
    response = write_api.get(path, params={**ROUTES[path], "limit": "1", "offset": "2"})

    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["limit"], body["offset"]) == (1, 2)
    assert write_api.get(path, params=ROUTES[path]).json()["limit"] == 20


# --- every route: the query parameters its OpenAPI operation lists, and no other -----------------
def _api_operations(document):
    return [(path, method, op) for path, method, op in _operations(document) if path.startswith("/api/v1/")]


def _query_names(operation) -> list[str]:
    return [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]


@pytest.fixture
def top_api(client_for, make_user):
    """A write key of the highest plan: no route refuses it for its plan or scope first."""
    return client_for(make_user(tier="enterprise"), "write")


def test_every_operation_refuses_an_unknown_query_parameter(top_api):
    document = top_api.get("/api/v1/openapi.json").json()
    operations = _api_operations(document)
    assert len(operations) > 30
    for path, method, _ in operations:
        body = {} if method in {"post", "put", "patch"} else None
        response = top_api.request(method.upper(), _fill(path), params={"bogus": "1"}, json=body)
        assert "bogus" in fields_of(response), (path, method)  # with the route's other problems, if any


def test_every_documented_query_parameter_is_taken(top_api):
    document = top_api.get("/api/v1/openapi.json").json()
    checked = 0
    for path, method, op in _api_operations(document):
        for name in _query_names(op):
            # "1" is no valid boolean or format: the writes that take options refuse it, doing nothing.
            response = top_api.request(method.upper(), _fill(path), params={name: "1"})
            error = response.json().get("error", {}) if response.status_code == 400 else {}
            assert error.get("details", {}).get("fields", {}).get(name) != ["Unknown query parameter."], (path, name)
            checked += 1
    assert checked > 20


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/api/v1/memory/decisions", {"decision": "Use Postgres", "product_name": "Atlas"}),
        ("POST", "/api/v1/workspaces", {"name": "Acme", "kind": "team"}),
        ("PUT", "/api/v1/memory/identity", {"identity": {"name": "Ada"}}),
    ],
)
def test_a_write_with_an_unknown_query_parameter_does_nothing(top_api, method, path, body):
    """``?dry_run=true`` sent to a route without it must not do the real write."""
    from apps.decisions.models import Decision
    from apps.identity.models import KernelRevision
    from apps.scopes.models import Space

    response = top_api.request(method, path, params={"dry_run": "true"}, json=body)

    assert fields_of(response) == {"dry_run": ["Unknown query parameter."]}
    assert not Decision.objects.exists() and not Space.objects.exclude(kind="personal").exists()
    assert not KernelRevision.objects.exists()
    assert top_api.request(method, path, json=body).status_code in (200, 201)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/memory/search", {"q": "x"}),
        ("/api/v1/memory/products", {"limit": "5"}),
        ("/api/v1/memory/import-mif", {"dry_run": "true"}),
        ("/api/v1/scope", {"bogus": "1"}),
    ],
)
def test_options_answers_whatever_the_query(top_api, path, params):
    response = top_api.request("OPTIONS", path, params=params)

    assert response.status_code == 204, response.text
    assert response.headers["Allow"] and response.content == b""


def test_format_is_an_unknown_parameter_not_a_renderer_override(api, write_api):
    # Without a token: the 401 every request without one gets, not a 404 for an unknown format.
    assert api.get("/api/v1/scope", params={"format": "xml"}).status_code == 401
    for fmt in ("xml", "json", "api"):
        assert fields_of(write_api.get("/api/v1/scope", params={"format": fmt})) == {
            "format": ["Unknown query parameter."]
        }
    # The routes whose own option is called format still take it.
    assert write_api.get("/api/v1/kernel/export", params={"format": "text"}).status_code == 200
    # The schema routes take it as part of their URL.
    assert write_api.get("/api/v1/openapi.yaml").headers["Content-Type"].startswith("application/vnd.oai.openapi")
    assert write_api.get("/api/v1/openapi.json").json()["openapi"] == "3.1.0"
    assert write_api.get("/api/v1/docs").status_code == 200


@pytest.mark.urls("tests.urls")
def test_a_read_that_never_checks_its_query_still_refuses_an_unknown_parameter(write_api):
    # Reads that take parameters name unknown ones with their other problems; one that checks
    # nothing is answered the refusal by the base view all the same.
    assert write_api.get("/api/v1/_test/pro", params={"colour": "red"}).status_code == 200
    response = write_api.get("/api/v1/_test/pro", params={"colour": "red", "shade": "dark"})
    assert fields_of(response) == {"shade": ["Unknown query parameter."]}
