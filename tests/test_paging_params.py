"""Every paged list route answers a query parameter it does not know (``?limt=1``) with a
VALIDATION_ERROR naming it, as the searches, costs and MIF export do: ignoring a misspelt
``limit`` or ``offset`` would answer another page than the one asked for."""

from __future__ import annotations

import pytest

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
# The searches check their own parameters first (``parse_search_params``, ``MemorySearchQuerySerializer``).
LIST_IDS = [path for path in ROUTE_IDS if not ROUTES[path]]


def fields_of(response) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR", error
    return error["details"]["fields"]


@pytest.mark.parametrize("path", ROUTE_IDS)
def test_misspelt_paging_parameters_are_named_not_ignored(write_api, path):
    response = write_api.get(path, params={**ROUTES[path], "limt": "1", "offest": "3"})

    assert fields_of(response) == {"limt": ["Unknown query parameter."], "offest": ["Unknown query parameter."]}


@pytest.mark.parametrize("path", LIST_IDS)
def test_an_unknown_parameter_is_named_with_a_bad_limit(write_api, path):
    response = write_api.get(path, params={**ROUTES[path], "limit": "0", "colour": "red"})

    assert set(fields_of(response)) == {"limit", "colour"}


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
