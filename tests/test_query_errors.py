"""A query string's problems are answered in one sentence on every route: "Some query parameters
are not valid.", with ``details.fields`` naming each one, as a body's problems are "Some fields are
not valid.". The message tells a client which half of its request to look at."""

from __future__ import annotations

import pytest

from tests.test_openapi import _fill, _operations

pytestmark = pytest.mark.django_db(transaction=True)

QUERY_INVALID = "Some query parameters are not valid."


def _query_error(response) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR", error
    assert error["message"] == QUERY_INVALID, error
    return error["details"]["fields"]


def test_every_operation_names_an_unknown_query_parameter_in_the_same_words(client_for, make_user):
    api = client_for(make_user(tier="team"))
    api.post("/api/v1/memory/product/atlas/state", json={"status": "active"})
    document = api.get("/api/v1/openapi.json").json()
    asked = 0
    for path, method, _ in _operations(document):
        if not path.startswith("/api/v1/"):
            continue
        params = {"zzz_unknown": "1", **({"q": "atlas"} if path.endswith("search") else {})}
        body = {} if method in {"post", "put", "patch"} else None
        response = api.request(method.upper(), _fill(path), params=params, json=body)
        assert "zzz_unknown" in _query_error(response), (method, path)
        asked += 1
    assert asked > 30


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/api/v1/memory/identity", {"layer": "ownn"}, "layer"),
        ("/api/v1/kernel/export", {"format": "xml"}, "format"),
        ("/api/v1/kernel/export", {"max_tokens": "0"}, "max_tokens"),
        ("/api/v1/ai/costs", {"days": "0"}, "days"),
        ("/api/v1/ai/costs/atlas", {"days": "366"}, "days"),
        ("/api/v1/memory/export-mif", {"types": "bogus"}, "types"),
        ("/api/v1/memory/decisions/search", {"q": "x", "limit": "0"}, "limit"),
    ],
)
def test_a_bad_query_value_is_answered_in_the_same_words(client_for, make_user, path, params, named):
    api = client_for(make_user(tier="pro"))

    assert named in _query_error(api.get(path, params=params))
