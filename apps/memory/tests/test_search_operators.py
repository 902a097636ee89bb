"""Memory search honours websearch operators in its typo-tolerant (trigram) branch too.

A row found only by trigram similarity must still satisfy the query once its wanted words are
taken as present: an excluded word or phrase keeps the row out, and a phrase whose words the row
has must be there in order. Decision search answers the same queries the same way.
"""

import pytest

from apps.decisions.models import Decision
from apps.memory.tests.test_search_api import add_memory
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

URL = "/api/v1/memory/search"
DECISION_SEARCH = "/api/v1/memory/decisions/search"
BREAD = "slow rise makes better bread"
MORNING = "rise and shine, slow morning"
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def client(user, client_for):
    space = space_ensure_personal(user=user)
    add_memory(space, BREAD)
    add_memory(space, MORNING)
    product = product_ensure(space=space, name="Atlas")
    for text in (BREAD, MORNING, "Use Redis for the job queue"):
        Decision.objects.create(space=space, product=product, decision=text)
    return client_for(user, "read")


def memories(client, q: str) -> list[tuple[str, float]]:
    response = client.get(URL, params={"q": q, "types": "memory"})
    assert response.status_code == 200, response.text
    return [(item["title"], item["score"]) for item in response.json()["results"]]


def titles(client, q: str, types: str) -> list[str]:
    response = client.get(URL, params={"q": q, "types": types})
    assert response.status_code == 200, response.text
    return sorted(item["title"] for item in response.json()["results"])


def decision_search(client, q: str) -> list[str]:
    response = client.get(DECISION_SEARCH, params={"q": q})
    assert response.status_code == 200, response.text
    return sorted(item["decision"] for item in response.json()["results"])


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("-bread", [MORNING]),  # websearch_to_tsquery: every row without the word
        ("bread -bread", []),
        ("bread -better", []),
        ('slow -"slow rise"', [MORNING]),
        ('"rise slow"', []),  # both rows have the words, neither in that order
    ],
)
def test_typo_matching_never_returns_what_the_query_excludes(client, q, expected):
    assert [title for title, _ in memories(client, q)] == expected
    # The same answer for decisions (plus the Redis one, which has no bread), as decision search's.
    redis = ["Use Redis for the job queue"] if q == "-bread" else []
    assert titles(client, q, "decision") == decision_search(client, q) == sorted(expected + redis)


def test_redis_minus_redis_finds_no_decision(client):
    assert titles(client, "redis -redis", "decision") == decision_search(client, "redis -redis") == []
    assert titles(client, "redis", "decision") == ["Use Redis for the job queue"]


def test_a_typo_is_still_matched_next_to_an_exclusion(client):
    # Only the wanted word counts for similarity: the excluded one neither lowers nor raises it.
    found = memories(client, "breadd -morning")
    assert [title for title, _ in found] == [BREAD]
    assert found[0][1] == memories(client, "breadd")[0][1] <= 0.5  # a typo-only match
    assert memories(client, "breadd -makes") == []  # excluded by a word the row has
