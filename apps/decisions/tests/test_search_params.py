"""Strict validation of the decision search query string (SPEC §6)."""

from __future__ import annotations

import pytest

from .helpers import SEARCH, days_ago, record, search, texts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "x" * 501}, "q"),
        ({"product": "p" * 101}, "product"),
        ({"product": "  "}, "product"),
        ({"tags": "a,,b"}, "tags"),
        ({"tags": ","}, "tags"),
        ({"tags": ",".join(f"t{i}" for i in range(21))}, "tags"),
        ({"tags": "t" * 51}, "tags"),
        ({"since": "last week"}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": "٢٠٢٦-٠٣-٠١"}, "since"),  # Arabic-Indic digits: ISO 8601 is ASCII
        ({"until": "２０２６-03-01T00:00:00Z"}, "until"),
        ({"since": "2026-03-02", "until": "2026-03-01"}, "until"),
        # ISO 8601's basic and week forms would be read as one midnight instant, not as a day.
        ({"until": "20260301"}, "until"),
        ({"until": "2026-W09-7"}, "until"),
        ({"since": "20260301T120000Z"}, "since"),
        ({"since": "2026-03-01T12:00:00+01:99"}, "since"),  # not read as +02:39
        ({"until": "2026-03-01T24:00:00Z"}, "until"),
        ({"include_related": "yes"}, "include_related"),
        ({"include_superseded": "1"}, "include_superseded"),
        ({"half_life_days": "0"}, "half_life_days"),
        ({"half_life_days": "-5"}, "half_life_days"),
        ({"half_life_days": "nan"}, "half_life_days"),
        ({"half_life_days": "36501"}, "half_life_days"),
        ({"half_life_days": "soon"}, "half_life_days"),
        ({"token_budget": "0"}, "token_budget"),
        ({"token_budget": "100001"}, "token_budget"),
        ({"token_budget": "1.5"}, "token_budget"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"sort": "new"}, "sort"),
        ({"q": ["a", "b"]}, "q"),
    ],
)
def test_bad_parameters_are_validation_errors_naming_them(read_api, params, field):
    response = read_api.get(SEARCH, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]["fields"], error


def test_every_problem_is_reported_at_once(read_api):
    response = read_api.get(SEARCH, params={"q": "x" * 501, "include_related": "maybe", "colour": "red"})
    assert set(response.json()["error"]["details"]["fields"]) == {"q", "include_related", "colour"}


def test_accepted_forms_of_each_parameter(write_api):
    record(write_api, "Keep it simple", tags=["process"], decided_at="2026-03-01T10:00:00Z")
    params = {
        "q": "simple",
        "product": "atlas",
        "tags": " Process ",
        "since": "2026-03-01",
        "until": "2026-03-01",
        "include_related": "FALSE",
        "include_superseded": "true",
        "half_life_days": "30.5",
        "token_budget": "500",
        "limit": "100",
        "offset": "0",
    }
    body = search(write_api, **params)
    assert texts(body) == ["Keep it simple"]
    assert body["tokens"]["budget"] == 500 and body["tokens"]["truncated"] is False


def test_date_time_bounds_are_inclusive(write_api):
    record(write_api, "At noon", decided_at="2026-03-01T12:00:00Z")
    assert texts(search(write_api, until="2026-03-01T12:00:00Z")) == ["At noon"]
    assert texts(search(write_api, since="2026-03-01T12:00:00Z")) == ["At noon"]
    assert texts(search(write_api, until="2026-03-01T11:59:59Z")) == []
    assert texts(search(write_api, since="2026-03-01T12:00:01+00:00")) == []
    assert texts(search(write_api, since="2026-03-01T13:00:00+01:00", until="2026-03-01T13:00:00+01:00")) == ["At noon"]


def test_rfc3339_spellings_are_read_alike(write_api):
    record(write_api, "At noon", decided_at="2026-03-01t12:00:00z")
    assert texts(search(write_api, until="2026-03-01")) == ["At noon"]  # a date covers its whole day
    for until in ("2026-03-01T12:00:00Z", "2026-03-01t12:00:00z", "2026-03-01 12:00:00+00:00", "2026-03-01T13:00+01"):
        assert texts(search(write_api, until=until)) == ["At noon"], until


def test_a_leap_second_is_read_as_the_last_moment_of_its_minute(write_api):
    """RFC 3339 (and the OpenAPI pattern of these fields) allows second 60: it is taken, not
    refused as no date, and stays on its own day, after every earlier time of its minute."""
    made = record(write_api, "Leap", decided_at="2016-12-31T23:59:60Z")
    assert made["decided_at"] == "2016-12-31T23:59:59.999999Z"
    record(write_api, "Next year", decided_at="2017-01-01T00:00:00Z")
    assert texts(search(write_api, until="2016-12-31T23:59:60Z")) == ["Leap"]
    assert texts(search(write_api, since="2016-12-31T23:59:60.5Z")) == ["Next year", "Leap"]
    assert texts(search(write_api, until="2016-12-31")) == ["Leap"]
    assert texts(search(write_api, since="2017-01-01T00:59:60+01:00")) == ["Next year", "Leap"]


def test_blank_q_means_newest_first(write_api):
    record(write_api, "older", decided_at=days_ago(3))
    record(write_api, "newer", decided_at=days_ago(1))
    assert texts(search(write_api, q="   ")) == ["newer", "older"]


def test_search_needs_decisions_read(api, make_user, make_key):
    response = api.get(SEARCH)
    assert response.status_code == 401


def test_openapi_declares_the_bounds_of_limit_and_offset(api, read_api):
    schema = api.get("/api/v1/openapi.json").json()
    paged = [
        path
        for path, item in schema["paths"].items()
        if any(p.get("name") == "limit" for p in item.get("get", {}).get("parameters", []))
    ]
    assert {"/api/v1/memory/decisions/search", "/api/v1/memory/search", "/api/v1/byok"} <= set(paged)
    for path in paged:  # every paged route: searches, products, history, workspaces, BYOK, sessions
        parameters = {p["name"]: p for p in schema["paths"][path]["get"]["parameters"]}
        assert parameters["limit"]["schema"] == {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
        assert parameters["offset"]["schema"] == {"type": "integer", "minimum": 0, "maximum": 10**9, "default": 0}
    # The documented bounds are the enforced ones.
    assert read_api.get(SEARCH, params={"offset": 10**9}).status_code == 200
    assert read_api.get(SEARCH, params={"offset": 10**9 + 1}).status_code == 400
