"""A NUL in a search query parameter is answered with the one wording the API uses for NUL in text
("Null characters are not allowed.", every text field's), on decision and memory search alike;
a tag filter holding NUL was answered as if the tag were too long."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db

NUL_MESSAGE = "Null characters are not allowed."


@pytest.fixture
def client(inproc_for, make_user):
    return inproc_for(make_user(tier="pro"))


def fields_of(client, path: str, params: dict) -> dict:
    response = client.get(path, data=params)
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error["details"]["fields"]


@pytest.mark.parametrize("tags", ["\x00", "db,a\x00b", "\x00x"])
def test_a_nul_in_a_decision_tag_filter_is_named_as_nul(client, tags):
    fields = fields_of(client, "/api/v1/memory/decisions/search", {"tags": tags})
    assert fields == {"tags": [NUL_MESSAGE]}


def test_a_long_decision_tag_filter_still_names_the_length(client):
    fields = fields_of(client, "/api/v1/memory/decisions/search", {"tags": "x" * 51})
    assert fields == {"tags": ["Each tag has at most 50 characters."]}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v1/memory/decisions/search", {"q": "\x00"}),
        ("/api/v1/memory/decisions/search", {"q": "a\x00b"}),
        ("/api/v1/memory/search", {"q": "\x00"}),
        ("/api/v1/memory/search", {"q": "a\x00b"}),
    ],
)
def test_a_nul_in_the_search_text_has_one_wording_on_both_searches(client, path, params):
    assert fields_of(client, path, params) == {"q": [NUL_MESSAGE]}
