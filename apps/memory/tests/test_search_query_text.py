"""Dashes and colons in memory search's ``q`` read as in decision search (apps/memory/search_query.py)."""

import pytest

from apps.memory.tests.test_search_api import add_decision, add_memory
from apps.scopes.services import space_ensure_personal

URL = "/api/v1/memory/search"
REDIS = "Fix the redis cache invalidation"
DOCS = "Document https://docs.example.com/api/v2 in the README"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(user, client_for):
    space = space_ensure_personal(user=user)
    add_memory(space, REDIS)
    add_decision(space, "Atlas", DOCS)
    add_decision(space, "Atlas", "Gateway listens on api.example.com:8443")
    return client_for(user, "read")


def hits(client, q: str) -> list[tuple[str, float]]:
    response = client.get(URL, params={"q": q})
    assert response.status_code == 200, response.text
    return [(item["title"], item["score"]) for item in response.json()["results"]]


@pytest.mark.parametrize(
    "q",
    [
        "fix redis\n" + "-" * 40 + "\ncache",
        "-- " * 17 + "redis",
        "- redis",  # a list marker, not an exclusion
        "|------|--------|\n| redis | cache |",
    ],
)
def test_a_run_of_dashes_or_a_list_marker_excludes_nothing(client, q):
    assert [title for title, _ in hits(client, q)] == [REDIS]


def test_a_dash_on_its_word_still_excludes(client):
    assert hits(client, "cache -redis") == []


@pytest.mark.parametrize(
    ("q", "title"),
    [("https://docs.example.com/api/v2", DOCS), ("api.example.com:8443", "Gateway listens on api.example.com:8443")],
)
def test_a_url_or_host_and_port_is_a_full_text_match(client, q, title):
    found = hits(client, q)
    # A full-text match scores above 0.5; a typo-only (trigram) match at most 0.5.
    assert found[0][0] == title and found[0][1] > 0.5, found


@pytest.mark.parametrize("q", ["nomadd", "kafka or nomadd", "nomadd or kafka", 'nomadd OR "event streaming"'])
def test_an_alternative_keeps_the_typo_tolerance_it_has_alone(user, client_for, q):
    space = space_ensure_personal(user=user)
    add_memory(space, "Move deployments to Nomad instead")
    add_memory(space, "Use Kafka for event streaming")
    found = [title for title, _ in hits(client_for(user, "read"), q)]
    assert "Move deployments to Nomad instead" in found, found
    assert ("Use Kafka for event streaming" in found) == (" or " in q.lower()), found


@pytest.mark.parametrize(
    "q",
    [
        "nomad -scheduling or kafka",
        "kafka or nomad -scheduling",
        'nomad -"for scheduling" or kafka',
        '"scheduling nomad" or kafka',  # the row has the phrase's words, in the other order
    ],
)
def test_a_row_close_to_one_alternative_satisfies_its_exclusions_and_phrases(user, client_for, q):
    space = space_ensure_personal(user=user)
    add_memory(space, "Use Nomad for scheduling")
    add_memory(space, "Use Kafka for event streaming")
    assert [title for title, _ in hits(client_for(user, "read"), q)] == ["Use Kafka for event streaming"]


def test_a_typo_in_an_alternative_with_an_exclusion_is_still_found(user, client_for):
    space = space_ensure_personal(user=user)
    add_memory(space, "Use Nomad for scheduling")
    add_memory(space, "Use Kafka for event streaming")
    found = [title for title, _ in hits(client_for(user, "read"), "nomadd -redis or kafka")]
    assert sorted(found) == ["Use Kafka for event streaming", "Use Nomad for scheduling"], found
