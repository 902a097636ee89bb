"""What the kernel export asks the database for."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.decisions.ranking import CORRECTED_WORDS_MAX
from apps.decisions.services import decision_create
from apps.identity.export import MAX_EXCLUSION_CHARS
from apps.memory.tests.test_search_work import function_calls
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db

URL = "/api/v1/kernel/export"


def test_the_export_looks_its_product_up_once(user, inproc_for):
    space = space_ensure_personal(user=user)
    decision_create(space=space, decision="Use Postgres for queues", product_name="Engine")
    decision_create(space=space, decision="Cache pages in Redis", product_name="Billing", affects_products=["Engine"])
    client = inproc_for(user, "read")
    # Two words: the search runs twice (the query as written, then its words or-ed).
    params = {"product": " ENGINE ", "query": "postgres cache", "format": "json"}
    assert client.get(URL, params).status_code == 200  # warm up
    with CaptureQueriesContext(connection) as captured:
        response = client.get(URL, params)
    assert response.status_code == 200, response.content
    lookups = [q["sql"] for q in captured.captured_queries if q["sql"].startswith("SELECT p.id, p.origin_id")]
    assert len(lookups) == 1, lookups
    section = next(s for s in response.json()["sections"] if s["kind"] == "decisions")
    assert "Use Postgres for queues" in section["content"]
    assert "Cache pages in Redis" in section["content"]  # propagated from Billing


def test_a_task_of_many_exclusions_keeps_those_of_its_first_200_characters_and_corrects_none(user, inproc_for):
    space = space_ensure_personal(user=user)
    for text in ("Adopt alpha for builds", "Adopt alpha for w00003", "Adopt alpha for w02000", "Keep w00000 around"):
        decision_create(space=space, decision=text, product_name="Engine")
    # 2,499 exclusions (20,000 characters). The search as written keeps those of the first
    # MAX_EXCLUSION_CHARS characters, as the search by words does, and corrects none: each was
    # compared with "w00000", close to it, and rewrote the whole query (10–25 s).
    task = "alpha" + "".join(f" -w{i:05d}" for i in range(2_499))
    assert len(task) <= 20_000 and "-w00003" in task[:MAX_EXCLUSION_CHARS]
    client = inproc_for(user, "read")
    with function_calls() as calls:
        response = client.post(URL, {"format": "json", "task": task}, format="json")
    assert response.status_code == 200, response.content
    section = next(s for s in response.json()["sections"] if s["kind"] == "decisions")
    assert "Adopt alpha for builds" in section["content"] and "Adopt alpha for w02000" in section["content"]
    assert "w00003" not in section["content"] and "Keep w00000" not in section["content"]
    assert calls.get("word_similarity", 0) == 0


# The texts a ranking statement hands websearch_to_tsquery: the query, then any exclusions apart.
_WEBSEARCH = re.compile(r"websearch_to_tsquery\('english', '((?:[^']|'')*)'\)")


def searched(captured) -> list[tuple[str, ...]]:
    """Each ranking statement's distinct websearch texts, in order: (query, exclusions if apart)."""
    statements = [q["sql"] for q in captured.captured_queries if q["sql"].lstrip().startswith("WITH fts AS")]
    return [tuple(dict.fromkeys(_WEBSEARCH.findall(sql))) for sql in statements]


def exported(response) -> str:
    assert response.status_code == 200, response.content
    return next((s["content"] for s in response.json()["sections"] if s["kind"] == "decisions"), "")


def test_the_search_by_words_takes_the_exclusions_once_for_all_its_words(user, inproc_for):
    space = space_ensure_personal(user=user)
    for text in ("Billing uses Paddle", "Billing uses Stripe", "Cache pages in Redis"):
        decision_create(space=space, decision=text, product_name="Engine")
    client = inproc_for(user, "read")
    # Written into each word ("the -stripe or billing -stripe"), the exclusions made a tsquery of
    # thousands of nodes for a long task, and a stop word's alternative was the exclusion alone:
    # every decision without Stripe, "Cache pages in Redis" too.
    with CaptureQueriesContext(connection) as captured:
        content = exported(client.post(URL, {"format": "json", "task": "the billing -stripe"}, format="json"))
    assert "Billing uses Paddle" in content
    assert "Stripe" not in content and "Redis" not in content
    assert searched(captured) == [("the billing -stripe",), ("the or billing", "-stripe")]


def test_the_words_of_an_excluded_phrase_rank_no_decision_up(user, inproc_for):
    space = space_ensure_personal(user=user)
    decision_create(
        space=space, decision="Billing uses Stripe", reasoning="Retries keep the default policy", product_name="Engine"
    )
    decision_create(
        space=space, decision="Billing uses Paddle", reasoning="Retries keep the usual policy", product_name="Engine"
    )
    client = inproc_for(user, "read")
    # More than 12 words (stop words count): searched by its words alone. Written into each of
    # them, the exclusion was part of the query ts_rank weighs, which counts a word under a NOT
    # as any other: "default" put Stripe first. Now both hold "billing" alike; the newer leads.
    task = "billing the a an of to in on at by for is it " + '-"default value"'
    content = exported(client.post(URL, {"format": "json", "task": task, "decisions": 2}, format="json"))
    assert content.index("Billing uses Paddle") < content.index("Billing uses Stripe")


def test_a_long_task_searches_only_the_misspelt_words_typo_correction_may_replace(user, inproc_for):
    space = space_ensure_personal(user=user)
    decision_create(space=space, decision="Billing uses Stripe", product_name="Engine")
    decision_create(space=space, decision="Cache pages in Redis", product_name="Engine")
    client = inproc_for(user, "read")
    # 40 words no decision holds, with nothing close: past the first 16 (which correction may
    # replace) they can find nothing, and each made the planner expect 0.5% more of the rows
    # (64 of them: every row read, twice). "cached" and "caching" add nothing to "caches".
    nothing_close = [f"zq{a}{b}x" for a in "abcde" for b in "abcdefgh"]
    task = " ".join(["strpe", *nothing_close, "redis", "caches", "cached", "caching"])
    with CaptureQueriesContext(connection) as captured:
        content = exported(client.post(URL, {"format": "json", "task": task}, format="json"))
    assert "Cache pages in Redis" in content
    assert "Billing uses Stripe" in content  # "strpe", the first unknown word, corrected
    (words,) = searched(captured)[0]  # the first ranking: more than 12 words, no search as written
    assert words.split(" or ") == ["strpe", *nothing_close[: CORRECTED_WORDS_MAX - 1], "redis", "caches"]
