"""Memory search does bounded work: stored documents, one pass over the hits, typo hits scored
only when the page reaches them.

The work is counted, not timed (the machine is shared): PostgreSQL counts the calls of every
non-built-in function in the transaction (``track_functions = 'all'``), so a test sees how often
a product's text was built (``sx_jsonb_strings``), how many rows the trigram filter compared
(``%>``: ``word_similarity_commutator_op``) and how many typo hits were scored
(``word_similarity``).
"""

from contextlib import contextmanager

import pytest
from django.db import connection, transaction

from apps.decisions.models import Decision
from apps.identity.services import kernel_update
from apps.memory.tests.test_search_api import add_decision, add_memory
from apps.products.services import product_ensure, product_state_write
from apps.scopes.services import space_ensure_personal

URL = "/api/v1/memory/search"
pytestmark = pytest.mark.django_db


@contextmanager
def function_calls():
    """The calls of each function made inside the block, by name."""
    calls: dict[str, int] = {}
    query = "SELECT funcname, sum(calls) FROM pg_stat_xact_user_functions GROUP BY funcname"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL track_functions = 'all'")
        cursor.execute(query)
        before = dict(cursor.fetchall())
        yield calls
        cursor.execute(query)
        calls.update({name: n - before.get(name, 0) for name, n in cursor.fetchall()})


def seed(user):
    """25 decisions that match "postgres" in full text and 10 that only come near it (PostgreSQL,
    another lexeme: typo hits), 10 unrelated; products and a kernel that match it."""
    space = space_ensure_personal(user=user)
    kernel_update(space=space, changes={"constraints": {"always": ["Use postgres everywhere"]}}, actor="test")
    for i in range(4):
        product_state_write(
            space=space,
            name=f"Product {i}",
            changes={"what_works": [f"postgres replica {i}", "billing"], "open_questions": ["which region?"]},
        )
    product = product_ensure(space=space, name="Atlas")
    rows = [f"Adopt postgres for service {i}" for i in range(25)]
    rows += [f"Tune PostgreSQL setting {i}" for i in range(10)]
    rows += [f"Bake sourdough bread {i}" for i in range(10)]
    Decision.objects.bulk_create(Decision(space=space, product=product, decision=text) for text in rows)
    return space


def test_searching_builds_no_product_or_kernel_text(user, inproc_for):
    seed(user)
    client = inproc_for(user, "read")
    with function_calls() as calls:
        body = client.get(URL, {"q": "postgres", "types": "identity,product", "limit": 100}).json()
    assert body["count"] == 5
    assert {item["type"] for item in body["results"]} == {"identity", "product"}
    assert all("**postgres**" in item["snippet"] for item in body["results"])
    # Stored by the database on write: nothing of a product or a layer is rebuilt to search it.
    assert calls.get("sx_jsonb_strings", 0) == 0


def test_a_page_of_full_text_hits_scores_no_typo_hit_and_filters_each_row_once(user, inproc_for):
    seed(user)
    client = inproc_for(user, "read")
    with function_calls() as calls:
        body = client.get(URL, {"q": "postgres", "limit": 20}).json()
    assert body["count"] == 1 + 4 + 25 + 10  # kernel, products, decisions (the typo hits counted)
    assert all(item["score"] > 0.5 for item in body["results"])  # full-text hits only
    # 29 full-text hits fill the page: the 10 typo hits are counted, never scored.
    assert calls.get("word_similarity", 0) == 0
    # The trigram filter compares each row at most once (not once to count, again to page), and
    # never a row that matches in full text: at most the 20 decisions and the product (Atlas)
    # that do not.
    assert calls.get("word_similarity_commutator_op", 0) <= 21


def test_pages_past_the_full_text_hits_rank_typo_hits_by_similarity(user, inproc_for):
    seed(user)
    client = inproc_for(user, "read")
    first = client.get(URL, {"q": "postgres", "limit": 25}).json()
    tail = client.get(URL, {"q": "postgres", "limit": 20, "offset": 25}).json()
    assert first["count"] == tail["count"] == 40
    scores = [item["score"] for item in first["results"] + tail["results"]]
    assert scores == sorted(scores, reverse=True)
    typos = [item for item in tail["results"] if item["score"] <= 0.5]
    assert [item["title"][:16] for item in typos] == ["Tune PostgreSQL "] * 10
    with connection.cursor() as cursor:
        cursor.execute("SELECT 0.5 * word_similarity('postgres', 'Tune PostgreSQL setting 1')")
        assert typos[0]["score"] == round(cursor.fetchone()[0], 6)
    assert {item["id"] for item in first["results"]}.isdisjoint(item["id"] for item in tail["results"])


def test_words_inside_runs_are_added_once_to_each_row_that_can_hold_one(user, inproc_for):
    space = space_ensure_personal(user=user)
    chinese = ["我们决定使用数据库", "迁移工具来管理架构", "数据库迁移", "东京拉面"]  # the last: none of the words
    for text in [*chinese, "Use PostgreSQL"]:
        add_memory(space, text)
    for text in chinese[:2]:
        add_decision(space, "Atlas", text)
    client = inproc_for(user, "read")
    # Eight one-character words: every row holding one is a candidate. Its document with the
    # words added (``sx_inner_words``) was built at each use: the filter, the rank's test and
    # value, the typo text's test (4 a hit; 0.5–0.8 s over 4,651 hits).
    with function_calls() as calls:
        response = client.get(URL, {"q": " or ".join("我们决定数据迁移"), "limit": 50})
    assert response.status_code == 200, response.content
    found = sorted((item["type"], item["title"]) for item in response.json()["results"])
    assert found == sorted([("memory", text) for text in chinese[:3]] + [("decision", text) for text in chinese[:2]])
    assert calls.get("sx_inner_words", 0) == 5
    # Past the last hit, they are counted apart (``QuerySet.count`` of the same candidates).
    past = client.get(URL, {"q": " or ".join("我们决定数据迁移"), "offset": 100}).json()
    assert past["results"] == [] and past["count"] == 5
