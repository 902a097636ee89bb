"""GET /kernel/export refuses a repeated option (as search and MIF export do) instead of taking
the last one: ``?max_tokens=100&max_tokens=8000`` must not export 8,000 tokens."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/kernel/export"


def fields(response) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error["details"]["fields"]


def test_a_repeated_option_is_a_validation_error(read_api):
    response = read_api.get(URL, params={"max_tokens": ["100", "8000"]})
    assert fields(response) == {"max_tokens": ["Give this parameter at most once."]}
    for name, values in {"format": ["json", "text"], "query": ["a", "b"], "download": ["true", "false"]}.items():
        assert fields(read_api.get(URL, params={name: values})) == {name: ["Give this parameter at most once."]}


def test_every_problem_is_named_at_once(read_api):
    response = read_api.get(URL, params={"decisions": ["1", "2"], "max_tokens": "5", "limit": "3"})
    assert set(fields(response)) == {"decisions", "max_tokens", "limit"}


def test_options_given_once_still_export(read_api):
    response = read_api.get(URL, params={"format": "json", "max_tokens": "100", "decisions": "0", "query": "x"})
    assert response.status_code == 200, response.text
    assert response.json()["format"] == "json"


def test_an_empty_number_or_boolean_option_is_refused_not_the_default(read_api):
    # As ?format= is (and ?limit= or ?days= elsewhere): an empty value is no value, not "absent".
    for name in ("max_tokens", "decisions", "download"):
        assert list(fields(read_api.get(URL, params={"format": "json", name: ""}))) == [name]
    response = read_api.get(URL, params={"format": "json", "decisions": "", "max_tokens": "", "download": ""})
    assert set(fields(response)) == {"decisions", "max_tokens", "download"}
    # Empty text options stay allowed: they mean none.
    assert read_api.get(URL, params={"product": "", "query": "", "task": ""}).status_code == 200


def test_download_is_true_or_false_as_every_other_boolean_option(read_api):
    # As decision search's include_related and MIF's include_embeddings: not DRF's 1, yes or on.
    for value in ("1", "yes", "on", "0", "no", "off", "t"):
        assert fields(read_api.get(URL, params={"download": value})) == {"download": ["Use true or false."]}
    for value, attached in (("true", True), ("FALSE", False), ("True", True)):
        response = read_api.get(URL, params={"download": value})
        assert response.status_code == 200, response.text
        assert ("attachment" in response.headers.get("Content-Disposition", "")) is attached


def test_an_unknown_option_is_named_in_the_words_of_every_other_query(read_api):
    assert fields(read_api.get(URL, params={"bogus": "1"})) == {"bogus": ["Unknown query parameter."]}
    assert fields(read_api.get(URL + "?=1")) == {"": ["Unknown query parameter."]}
    both = fields(read_api.get(URL, params={"bogus": "1", "max_tokens": "5", "decisions": ["1", "2"]}))
    assert set(both) == {"bogus", "max_tokens", "decisions"} and both["bogus"] == ["Unknown query parameter."]
    # A body's unknown field is still a field.
    assert fields(read_api.post(URL, json={"bogus": 1})) == {"bogus": ["Unknown field."]}
