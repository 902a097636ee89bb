"""Search issues a fixed number of queries whatever the number of results; recording a decision
issues no more than it needs."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db

SEARCH = "/api/v1/memory/decisions/search"


def settle_key_bookkeeping(user) -> None:
    """The key's last-used stamp is written at most once a minute; make it fresh so that write
    cannot land inside a measured request on a slow machine."""
    ApiKey.objects.filter(user=user).update(last_used_at=timezone.now())


def count_queries(client, params) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(SEARCH, params)
        assert response.status_code == 200, response.content
    return len(captured.captured_queries)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"q": "pricing"},
        {"q": "pricnig"},  # trigram fallback
        {"q": "pricing", "product": "Atlas", "tags": "growth"},
        {"product": "Atlas", "include_superseded": "true"},
    ],
)
def test_search_query_count_is_independent_of_result_size(user, inproc_for, django_assert_num_queries, params):
    space = space_ensure_personal(user=user)
    client = inproc_for(user, "read")
    client.get(SEARCH)  # warm up
    previous = None
    for _ in range(2):
        for i in range(15):
            decision_create(
                space=space,
                decision=f"Pricing change {i}",
                product_name="Atlas" if i % 2 else "Billing",
                tags=["growth"],
                affects_products=["Atlas"],
                supersedes=None,
            )
        settle_key_bookkeeping(user)
        if previous is None:
            previous = count_queries(client, params)
        else:
            with django_assert_num_queries(previous):
                assert client.get(SEARCH, params).status_code == 200
    assert previous <= 12


def test_recent_decisions_on_product_state_use_a_fixed_number_of_queries(user, inproc_for, django_assert_num_queries):
    space = space_ensure_personal(user=user)
    client = inproc_for(user, "read")
    decision_create(space=space, decision="first", product_name="Atlas")
    client.get("/api/v1/memory/product/Atlas/state")
    settle_key_bookkeeping(user)
    with CaptureQueriesContext(connection) as one:
        client.get("/api/v1/memory/product/Atlas/state")
    for i in range(10):
        decision_create(space=space, decision=f"more {i}", product_name="Atlas")
    settle_key_bookkeeping(user)
    with django_assert_num_queries(len(one.captured_queries)):
        body = client.get("/api/v1/memory/product/Atlas/state").json()
    assert len(body["recent_decisions"]) == 5


@pytest.mark.parametrize(
    ("q", "asks", "corrects", "found"),
    [
        # A match of a query needing every word shows each word is known: no question asked.
        ("kafka events", False, False, {"Stream events through Kafka"}),
        ('"stream events"', False, False, {"Stream events through Kafka"}),
        # No match, or a query a decision can match without every word: the question is asked,
        # and only a word the space has never seen runs the correction itself.
        ("kafak", True, True, {"Stream events through Kafka", "Kafkaesque approvals must go"}),
        # "kafak" is corrected to the space's closest words, "kafka" and "kafkaesqu" (equally close).
        ("kafka or kafak", True, True, {"Stream events through Kafka", "Kafkaesque approvals must go"}),
        ("kafka -approvals", True, False, {"Stream events through Kafka"}),
        ("kafka approvals", True, False, set()),  # known words, no decision has both
    ],
)
def test_the_unknown_word_check_runs_only_when_a_match_does_not_answer_it(user, inproc_for, q, asks, corrects, found):
    space = space_ensure_personal(user=user)
    decision_create(space=space, decision="Stream events through Kafka", product_name="Atlas")
    decision_create(space=space, decision="Kafkaesque approvals must go", product_name="Atlas")
    client = inproc_for(user, "read")
    settle_key_bookkeeping(user)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(SEARCH, {"q": q})
    assert response.status_code == 200, response.content
    statements = [query["sql"] for query in captured.captured_queries]
    assert any(sql.lstrip().startswith("SELECT EXISTS") for sql in statements) is asks
    assert any("WITH RECURSIVE unknown" in sql for sql in statements) is corrects
    # Only the correction itself takes a transaction (a savepoint here) for its trigram bound.
    assert any(sql.startswith("SAVEPOINT") for sql in statements) is corrects, statements
    assert any(sql.startswith("SELECT set_config") for sql in statements) is corrects, statements
    assert {hit["decision"] for hit in response.json()["results"]} == found


@pytest.mark.django_db(transaction=True)
def test_only_a_superseding_decision_takes_a_savepoint(user):
    """The savepoint answers a concurrent supersession (CONFLICT); a plain insert has none to answer."""
    space = space_ensure_personal(user=user)

    def savepoints(**fields) -> tuple[int, Decision]:
        with CaptureQueriesContext(connection) as captured:
            row = decision_create(space=space, product_name="Atlas", **fields)
        return sum(query["sql"].startswith("SAVEPOINT") for query in captured.captured_queries), row

    decision_create(space=space, product_name="Atlas", decision="Start Atlas")  # the product exists
    plain, first = savepoints(decision="Use Kafka")
    superseding, second = savepoints(decision="Use Redpanda", supersedes=first.pk)
    assert (plain, superseding) == (0, 1)
    first.refresh_from_db()
    assert first.superseded_by_id == second.pk
