"""What the decision search finds and in which order (SPEC §6)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from .helpers import days_ago, make, record, search, texts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def corpus(write_api):
    """A small realistic index of one founder's decisions, all decided the same day."""
    when = days_ago(10)
    rows = [
        ("Use PostgreSQL as the only database", "One engine for full-text, vectors and queues.", ["database"]),
        ("Bill customers through Stripe", "Stripe handles VAT and invoices for us.", ["billing", "payments"]),
        ("Deploy on Fly.io", "Cheap machines close to users; Postgres is managed there too.", ["infra"]),
        ("Write the frontend in HTMX", "Server-rendered pages keep the team small.", ["frontend"]),
        ("Weekly release train on Tuesdays", "Predictable shipping beats heroic launches.", ["process"]),
        ("Cache rendered pages in Redis", "Keeps p95 latency under 50 ms.", ["infra", "performance"]),
    ]
    for decision, reasoning, tags in rows:
        record(write_api, decision, reasoning=reasoning, tags=tags, decided_at=when)
    return write_api


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("postgresql database", "Use PostgreSQL as the only database"),
        ("stripe", "Bill customers through Stripe"),
        ("how do we deploy", "Deploy on Fly.io"),
        ("frontend", "Write the frontend in HTMX"),
        ("release", "Weekly release train on Tuesdays"),
        ("redis cache", "Cache rendered pages in Redis"),
        ("payments", "Bill customers through Stripe"),
        ("invoices", "Bill customers through Stripe"),
    ],
)
def test_the_right_decision_comes_first(corpus, query, expected):
    body = search(corpus, q=query)
    assert body["results"], body
    assert body["results"][0]["decision"] == expected
    assert body["semantic"] is False and body["scope"] == "personal"


def test_decision_text_outranks_a_mention_in_reasoning(corpus):
    # "Postgres" is the decision of one and only a mention in another's reasoning.
    body = search(corpus, q="postgres")
    assert texts(body)[0] == "Use PostgreSQL as the only database" or texts(body)[0] == "Deploy on Fly.io"
    body = search(corpus, q="managed postgres")
    assert texts(body) == ["Deploy on Fly.io"]


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("postgress", "Use PostgreSQL as the only database"),
        ("strpe", "Bill customers through Stripe"),
        ("fronted", "Write the frontend in HTMX"),
        ("relase train", "Weekly release train on Tuesdays"),
    ],
)
def test_a_typo_still_finds_the_decision(corpus, typo, expected):
    body = search(corpus, q=typo)
    assert body["results"] and body["results"][0]["decision"] == expected, body


def test_known_words_with_few_matches_bring_in_no_fuzzy_extras(write_api):
    record(write_api, "Stream events through Kafka")
    record(write_api, "Kafkaesque approvals must go")
    # "kafka" is a word of the space: its one full-text match is the whole answer.
    assert texts(search(write_api, q="kafka")) == ["Stream events through Kafka"]
    # A word no decision has (a typo) brings in trigram matches.
    assert set(texts(search(write_api, q="kafak"))) == {"Stream events through Kafka", "Kafkaesque approvals must go"}


def test_a_page_past_the_last_match_still_counts_them(write_api):
    record(write_api, "Stream events through Kafka")
    record(write_api, "Kafkaesque approvals must go")
    record(write_api, "Adopt feature flags")
    for q, count in (("kafka", 1), ("kafak", 2), ("kafka OR flags", 2)):
        assert search(write_api, q=q)["count"] == count, q
        beyond = search(write_api, q=q, offset="5")
        assert beyond["results"] == [] and beyond["count"] == count and beyond["next_offset"] is None, q


def test_words_matching_nothing_find_nothing(corpus):
    body = search(corpus, q="kubernetes helm")
    assert body["results"] == [] and body["count"] == 0 and body["next_offset"] is None


def test_at_equal_relevance_the_recent_decision_wins(write_api):
    record(write_api, "Adopt feature flags", decided_at=days_ago(400))
    record(write_api, "Adopt feature flags", product="Billing", decided_at=days_ago(2))
    body = search(write_api, q="feature flags")
    assert [hit["product_name"] for hit in body["results"]] == ["Billing", "Atlas"]
    first, second = body["results"]
    assert first["score_detail"]["text"] == second["score_detail"]["text"] == 1.0
    assert first["score_detail"]["recency"] > second["score_detail"]["recency"]
    assert first["score"] > second["score"]
    assert first["score_detail"]["semantic"] is None


def test_the_score_is_the_documented_blend(write_api):
    record(write_api, "Adopt feature flags", decided_at=days_ago(90))
    hit = search(write_api, q="feature flags", half_life_days="90")["results"][0]
    assert hit["score_detail"]["recency"] == pytest.approx(0.5, abs=1e-3)
    assert hit["score"] == pytest.approx(0.8 * 1.0 + 0.2 * 0.5, abs=1e-3)
    shorter = search(write_api, q="feature flags", half_life_days="45")["results"][0]
    assert shorter["score_detail"]["recency"] == pytest.approx(0.25, abs=1e-3)


def test_half_life_changes_the_order(write_api):
    # The better text match is old; the weaker one is fresh.
    record(write_api, "Stripe for billing", reasoning="billing billing", decided_at=days_ago(365))
    record(write_api, "Use Stripe", reasoning="mentions billing once", decided_at=days_ago(1))
    long_memory = search(write_api, q="billing", half_life_days="36500")
    assert texts(long_memory)[0] == "Stripe for billing"
    short_memory = search(write_api, q="billing", half_life_days="7")
    assert texts(short_memory)[0] == "Use Stripe"


def test_without_q_the_newest_come_first(write_api):
    for age in (30, 1, 10):
        record(write_api, f"{age} days old", decided_at=days_ago(age))
    body = search(write_api)
    assert texts(body) == ["1 days old", "10 days old", "30 days old"]
    assert body["count"] == 3
    hit = body["results"][0]
    assert hit["score_detail"]["text"] is None and hit["score"] == hit["score_detail"]["recency"]
    assert hit["match"] == "direct"


def test_product_filter_includes_decisions_that_affect_it(write_api):
    record(write_api, "Move auth to passkeys", product="Atlas")
    record(write_api, "Shared auth library for all apps", product="Platform", affects_products=["ATLAS", "Docs"])
    record(write_api, "Unrelated auth change", product="Docs")
    body = search(write_api, q="auth", product="atlas")
    by_text = {hit["decision"]: hit["match"] for hit in body["results"]}
    assert by_text == {"Move auth to passkeys": "direct", "Shared auth library for all apps": "affects"}
    newest = search(write_api, product="Atlas")
    assert {hit["decision"]: hit["match"] for hit in newest["results"]} == by_text
    direct_only = search(write_api, q="auth", product="Atlas", include_related="false")
    assert texts(direct_only) == ["Move auth to passkeys"]


def test_a_product_without_decisions_of_its_own_still_gets_affecting_ones(write_api):
    record(write_api, "Rate-limit the public API", product="Platform", affects_products=["Mobile App"])
    body = search(write_api, product="mobile app")
    assert [(hit["decision"], hit["match"]) for hit in body["results"]] == [("Rate-limit the public API", "affects")]
    assert search(write_api, product="mobile app", include_related="false")["results"] == []


def test_superseded_decisions_are_hidden_unless_asked_for(write_api):
    old = record(write_api, "Host on Heroku", tags=["hosting"])
    new = record(write_api, "Host on Fly.io", tags=["hosting"], supersedes=old["id"])
    assert texts(search(write_api, q="host")) == ["Host on Fly.io"]
    assert texts(search(write_api, tags="hosting")) == ["Host on Fly.io"]
    everything = search(write_api, q="host", include_superseded="true")
    assert set(texts(everything)) == {"Host on Heroku", "Host on Fly.io"}
    old_hit = next(hit for hit in everything["results"] if hit["id"] == old["id"])
    assert old_hit["superseded_by"] == new["id"]


def test_tags_must_all_match(write_api):
    record(write_api, "A", tags=["infra", "cost"])
    record(write_api, "B", tags=["infra"])
    record(write_api, "C", tags=["cost"])
    assert texts(search(write_api, tags="infra,COST")) == ["A"]
    assert sorted(texts(search(write_api, tags="infra"))) == ["A", "B"]


def test_tags_are_searchable_text(write_api):
    record(write_api, "Pick a vendor", tags=["observability"])
    record(write_api, "Pick a font")
    assert texts(search(write_api, q="observability")) == ["Pick a vendor"]


def test_date_window(write_api):
    record(write_api, "January", decided_at="2026-01-15T00:00:00Z")
    record(write_api, "February", decided_at="2026-02-15T00:00:00Z")
    record(write_api, "March", decided_at="2026-03-15T00:00:00Z")
    assert texts(search(write_api, since="2026-02-01", until="2026-02-28")) == ["February"]
    assert texts(search(write_api, since="2026-02-15")) == ["March", "February"]
    assert texts(search(write_api, until="2026-01-15")) == ["January"]


def test_paging_is_stable_and_counts_everything(write_api):
    for i in range(7):
        record(write_api, f"Pricing experiment {i}", decided_at=days_ago(i + 1))
    first = search(write_api, q="pricing experiment", limit="3")
    second = search(write_api, q="pricing experiment", limit="3", offset="3")
    third = search(write_api, q="pricing experiment", limit="3", offset="6")
    assert first["count"] == second["count"] == third["count"] == 7
    assert first["next_offset"] == 3 and second["next_offset"] == 6 and third["next_offset"] is None
    assert texts(first) + texts(second) + texts(third) == [f"Pricing experiment {i}" for i in range(7)]
    beyond = search(write_api, q="pricing experiment", offset="50")
    assert beyond["results"] == [] and beyond["count"] == 7 and beyond["next_offset"] is None


def test_token_budget_cuts_results_to_fit(write_api):
    from apps.decisions.models import Decision
    from apps.decisions.selectors import decision_render_text
    from synchronex.api.tokens import count_tokens

    for i in range(5):
        record(write_api, f"Budget decision {i}", reasoning="word " * 40, decided_at=days_ago(i + 1))
    full = search(write_api, q="budget decision")
    costs = [
        count_tokens(decision_render_text(Decision.objects.select_related("product").get(pk=hit["id"])))
        for hit in full["results"]
    ]
    budget = costs[0] + costs[1] + costs[2] // 2
    cut = search(write_api, q="budget decision", token_budget=str(budget))
    assert texts(cut) == texts(full)[:2]
    assert cut["tokens"] == {"budget": budget, "used": costs[0] + costs[1], "truncated": True}
    assert cut["next_offset"] == 2 and cut["count"] == 5
    roomy = search(write_api, q="budget decision", token_budget=str(sum(costs)))
    assert len(roomy["results"]) == 5 and roomy["tokens"]["truncated"] is False
    tiny = search(write_api, token_budget="1")
    assert tiny["results"] == [] and tiny["tokens"]["truncated"] is True


def test_stop_words_alone_find_nothing(corpus):
    assert search(corpus, q="the and of")["results"] == []


def test_query_syntax_never_breaks_search(corpus):
    for q in ['"unbalanced', "-", "a & b | !c", "OR", "'; DROP TABLE x; --", "stripe -vat", "🙂", "%_\\"]:
        response = corpus.get("/api/v1/memory/decisions/search", params={"q": q})
        assert response.status_code == 200, (q, response.text)
    assert texts(search(corpus, q='"weekly release"')) == ["Weekly release train on Tuesdays"]


def test_search_is_isolated_between_users(make_user, client_for):
    alice, bob = client_for(make_user()), client_for(make_user())
    record(alice, "Alice prices in euros", tags=["pricing"], affects_products=["Shared"])
    for params in ({"q": "euros"}, {}, {"tags": "pricing"}, {"product": "Shared"}, {"q": "eurso"}):
        body = search(bob, **params)
        assert body["results"] == [] and body["count"] == 0, params
    assert texts(search(alice, q="euros")) == ["Alice prices in euros"]


def test_product_listing_merges_own_and_affecting_decisions_by_date(write_api):
    record(write_api, "own 1", product="Atlas", decided_at=days_ago(1))
    record(write_api, "theirs 2", product="Platform", affects_products=["atlas"], decided_at=days_ago(2))
    record(write_api, "own 3", product="Atlas", decided_at=days_ago(3))
    record(write_api, "theirs 4", product="Docs", affects_products=["Atlas"], decided_at=days_ago(4))
    record(write_api, "own 5", product="Atlas", decided_at=days_ago(5))
    record(write_api, "unrelated", product="Docs", decided_at=days_ago(0.5))
    pages = [search(write_api, product="Atlas", limit="2", offset=str(offset)) for offset in (0, 2, 4)]
    assert [texts(page) for page in pages] == [["own 1", "theirs 2"], ["own 3", "theirs 4"], ["own 5"]]
    assert [page["count"] for page in pages] == [5, 5, 5]
    assert [page["next_offset"] for page in pages] == [2, 4, None]
    assert [hit["match"] for hit in pages[0]["results"]] == ["direct", "affects"]
    # A decision of the product that also lists the product itself is counted once.
    record(write_api, "own 0 self-affecting", product="Atlas", affects_products=["Atlas"], decided_at=days_ago(0.1))
    body = search(write_api, product="Atlas")
    assert body["count"] == 6 and texts(body)[0] == "own 0 self-affecting"
    assert body["results"][0]["match"] == "direct"


def test_a_decision_thousands_of_half_lives_old_weighs_recency_zero(write_api):
    # 1,100 half-lives: exp() of PostgreSQL's float8 underflows (2^-1100 < 2^-1074).
    record(write_api, "Adopt feature flags", decided_at=days_ago(11))
    record(write_api, "Adopt feature flags", product="Billing", decided_at="1900-01-01")
    short = search(write_api, q="feature flags", half_life_days="0.01")
    assert [hit["score_detail"]["recency"] for hit in short["results"]] == [0.0, 0.0]
    assert [hit["score"] for hit in short["results"]] == [0.8, 0.8]
    assert [hit["product_name"] for hit in short["results"]] == ["Atlas", "Billing"]  # then the newest first
    month = search(write_api, q="feature flags", half_life_days="30")
    assert [hit["product_name"] for hit in month["results"]] == ["Atlas", "Billing"]
    assert month["results"][1]["score_detail"]["recency"] == 0.0


@pytest.mark.parametrize("half_life", ["1e-310", "5e-324", "36500"])
def test_every_accepted_half_life_ranks(write_api, half_life):
    # A subnormal half-life made age / half-life overflow float8 before the 1,000 half-lives cap.
    record(write_api, "Adopt feature flags", decided_at=days_ago(11))
    record(write_api, "Adopt feature flags", product="Billing", decided_at=days_ago(-0.5))  # future: age 0
    for params in ({"q": "feature flags"}, {}):
        body = search(write_api, half_life_days=half_life, **params)
        assert [hit["product_name"] for hit in body["results"]] == ["Billing", "Atlas"], params
        recency = [hit["score_detail"]["recency"] for hit in body["results"]]
        if half_life == "36500":
            assert recency[0] == 1.0 and recency[1] == pytest.approx(0.99979, abs=1e-5)
        else:
            assert recency == [1.0, 0.0]


def test_kernel_export_ranks_decisions_older_than_any_recency(write_api, product):
    # Restored decisions keep the date of the system they came from, which may be any year.
    make(product, "Price the starter plan in euros", decided_at=datetime(1000, 1, 1, tzinfo=UTC))
    response = write_api.get("/api/v1/kernel/export", params={"format": "json", "query": "euros"})
    assert response.status_code == 200, response.text
    section = next(s for s in response.json()["sections"] if s["kind"] == "decisions")
    assert "Price the starter plan in euros" in section["content"]


def test_a_token_budget_that_fits_no_result_ends_the_paging(write_api):
    for i in range(3):
        record(write_api, f"Budget decision {i}", reasoning="word " * 40)
    for params in ({"q": "budget decision"}, {}):
        body = search(write_api, token_budget="1", **params)
        assert (body["results"], body["count"], body["offset"]) == ([], 3, 0)
        assert body["tokens"] == {"budget": 1, "used": 0, "truncated": True}
        assert body["next_offset"] is None  # the same page again would fit nothing either
        later = search(write_api, token_budget="1", offset="1", **params)
        assert later["results"] == [] and later["next_offset"] is None
