"""Dashes and colons in a decision search's ``q`` (apps/memory/search_query.py): a ``-`` excludes
only as ``-word`` or ``-"a phrase"``, and a URL or ``host:port`` is found as the decision has it."""

from __future__ import annotations

import pytest

from .helpers import record, search, texts

pytestmark = pytest.mark.django_db(transaction=True)

REDIS = "Cache invalidation for Redis"
KAFKA = "Stream events through Kafka"
DOCS = "Document https://docs.example.com/api/v2 in the README"
HEALTH = "Health check at http://localhost:3000/health"
GATEWAY = "Gateway listens on api.example.com:8443"
MIRROR = "Mirror artifacts to ftp://files.example.org/a.txt"
API = "Rate limit the public API"
README = "Keep the README short"


@pytest.fixture
def corpus(write_api):
    for text in (REDIS, KAFKA, DOCS, HEALTH, GATEWAY, MIRROR, API, README):
        record(write_api, text)
    return write_api


@pytest.mark.parametrize(
    "q",
    [
        "-" * 33,  # one NOT each: PostgreSQL's operator stack holds 32
        "-" * 200 + " redis",
        "-- " * 17 + "redis",
        "redis\n" + "-" * 40 + "\ncache",
        "== Summary ==\n" + "-" * 34 + " redis",
        "<!-- " + "-" * 40 + " --> redis",
    ],
)
def test_a_run_of_dashes_is_punctuation_never_an_error(corpus, q):
    body = search(corpus, q=q)
    assert texts(body) == ([REDIS] if "redis" in q else []), body


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("redis\n---\nkafka", []),  # a Markdown rule excludes nothing: both words are wanted
        ("redis or\n---\nkafka", [REDIS, KAFKA]),
        ("|------|--------|\n| redis | done |", [REDIS]),  # a Markdown table
        ("- redis", [REDIS]),  # a list marker
        ("--redis", [REDIS]),  # a command-line flag
        ("cache -redis", []),  # an exclusion as README documents it
        ('invalidation -"cache invalidation"', []),
    ],
)
def test_only_a_dash_on_its_word_or_phrase_excludes(corpus, q, expected):
    assert sorted(texts(search(corpus, q=q))) == expected


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("https://docs.example.com/api/v2", DOCS),
        ("http://localhost:3000/health", HEALTH),
        ("api.example.com:8443", GATEWAY),
        ("ftp://files.example.org/a.txt", MIRROR),
        ("docs.example.com/api/v2", DOCS),
        ("see https://docs.example.com/api/v2", DOCS),  # "see" is no word of the space: corrected away
    ],
)
def test_a_url_or_host_and_port_finds_the_decision_holding_it_first(corpus, q, expected):
    assert texts(search(corpus, q=q))[:1] == [expected]


def test_an_excluded_url_leaves_out_the_decision_holding_it(corpus):
    assert sorted(texts(search(corpus, q="readme"))) == [DOCS, README]
    assert texts(search(corpus, q="readme -https://docs.example.com/api/v2")) == [README]
