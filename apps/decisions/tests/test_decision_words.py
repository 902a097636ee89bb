"""The words of a space's decisions (``DecisionWord``), kept by the database for every write path,
and the typo correction that reads them (SPEC §6's trigram fallback)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.decisions import ranking
from apps.decisions.models import SEARCH_CONFIG, Decision, DecisionWord
from apps.memory.tests.test_search_work import function_calls
from apps.products.services import product_ensure
from apps.scopes.models import Space
from apps.scopes.services import space_ensure_personal

from .helpers import SEARCH, make, record, search, texts

pytestmark = pytest.mark.django_db


def words(space) -> set[str]:
    return set(DecisionWord.objects.filter(space=space).values_list("word", flat=True))


def lexemes(text: str) -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tsvector_to_array(to_tsvector(%s::regconfig, %s))", [SEARCH_CONFIG, text])
        return set(cursor.fetchone()[0])


def test_a_decision_adds_the_words_of_its_text_tags_and_reasoning(product):
    make(product, "Adopt Kubernetes", tags=["infra"], reasoning="Autoscaling matters")
    assert words(product.space) == lexemes("Adopt Kubernetes infra Autoscaling matters")


def test_a_bulk_insert_adds_every_rows_words_once(product):
    rows = [Decision(space=product.space, product=product, decision=f"Adopt Kafka for stream {i}") for i in range(50)]
    Decision.objects.bulk_create(rows)
    expected = set().union(*(lexemes(row.decision) for row in rows))
    assert words(product.space) == expected
    assert DecisionWord.objects.filter(space=product.space, word="kafka").count() == 1


def test_deleting_the_last_holder_of_a_word_forgets_it_and_keeps_shared_words(product):
    kafka = make(product, "Adopt Kafka")
    make(product, "Adopt Redis")
    kafka.delete()
    assert words(product.space) == lexemes("Adopt Redis")
    Decision.objects.filter(space=product.space).delete()
    assert words(product.space) == set()


def test_a_word_held_only_by_older_decisions_is_still_found(product):
    # Held by none of the newest decisions (which 0009 looked at first): its count keeps it.
    long_ago = timezone.now() - timedelta(days=400)
    first, second = (make(product, "Adopt Zebra", decided_at=long_ago) for _ in range(2))
    Decision.objects.bulk_create(
        Decision(space=product.space, product=product, decision=f"Filler {i}") for i in range(200)
    )
    first.delete()
    assert "zebra" in words(product.space)
    second.delete()
    assert "zebra" not in words(product.space) and "filler" in words(product.space)


def test_an_edit_adds_new_words_and_forgets_lost_ones(product):
    decision = make(product, "Adopt Kafka", reasoning="Streams")
    make(product, "Keep Kafka")
    decision.decision = "Adopt Pulsar"
    decision.reasoning = ""
    decision.save()
    assert words(product.space) == lexemes("Adopt Pulsar Keep Kafka")
    decision.tags = ["queues"]
    decision.save(update_fields=["tags"])
    assert "queue" in words(product.space)


def test_an_edit_of_other_columns_keeps_the_words(product):
    old = make(product, "Adopt Kafka")
    make(product, "Adopt Pulsar", supersedes=old)  # the trigger marks the old one (an UPDATE)
    Decision.objects.filter(pk=old.pk).update(source="mif")
    assert words(product.space) == lexemes("Adopt Kafka Pulsar")


def test_words_of_one_space_are_not_another_spaces(product, make_user):
    other = product_ensure(space=space_ensure_personal(user=make_user()), name="Atlas")
    make(product, "Adopt Kafka")
    make(other, "Adopt Pulsar")
    assert words(product.space) == lexemes("Adopt Kafka")
    assert words(other.space) == lexemes("Adopt Pulsar")
    other.space.decisions.all().delete()
    assert words(product.space) == lexemes("Adopt Kafka")  # another space's delete forgets only its own


def test_deleting_the_space_deletes_its_words(product):
    make(product, "Adopt Kafka")
    Space.objects.filter(pk=product.space.pk).delete()
    assert not DecisionWord.objects.filter(space_id=product.space.pk).exists()


def test_words_with_quotes_are_forgotten_exactly(product):
    text = "Read http://example.com/o'reilly's-guide before it's late"  # URL lexemes keep the quote
    assert {"/o'reilly's-guide", "example.com/o'reilly's-guide"} <= lexemes(text)
    decision = make(product, text)
    assert words(product.space) == lexemes(text)
    decision.delete()
    assert words(product.space) == set()


@pytest.mark.parametrize("word", ["it's", "a\\b", "''", "\\'", "x y", "a:*", "!", "fly.io"])
def test_a_word_as_a_query_matches_exactly_that_word(db, word):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_to_tsvector(ARRAY[%s]) @@ sx_lexeme_query(%s),"
            " array_to_tsvector(ARRAY['other']) @@ sx_lexeme_query(%s)",
            [word, word, word],
        )
        assert cursor.fetchone() == (True, False)


@pytest.mark.django_db(transaction=True)
def test_a_typo_is_corrected_only_to_words_of_the_searched_space(write_api, client_for, make_user):
    other_api = client_for(make_user(tier="pro"))
    record(other_api, "Adopt Kubernetes for deployments")
    record(write_api, "Adopt Nomad for deployments")
    # "kubernets" is close to a word of the other space only: nothing to correct it to here.
    assert texts(search(write_api, q="kubernets")) == []
    assert texts(search(other_api, q="kubernets")) == ["Adopt Kubernetes for deployments"]


@pytest.mark.django_db(transaction=True)
def test_a_typo_among_known_words_is_corrected_and_a_word_with_nothing_close_is_dropped(write_api):
    record(write_api, "Bill customers through Stripe")
    record(write_api, "Stream events through Kafka")
    # "stirpe" → stripe; "zzqx" has nothing close and is dropped.
    assert texts(search(write_api, q="customers stirpe")) == ["Bill customers through Stripe"]
    assert texts(search(write_api, q="stripe zzqx")) == ["Bill customers through Stripe"]
    # Nothing close to any word: nothing found.
    assert search(write_api, q="zzqx qqvw")["count"] == 0


@pytest.mark.django_db(transaction=True)
def test_matches_of_the_query_as_written_come_before_corrected_ones(write_api):
    record(write_api, "Adopt Kafka")
    record(write_api, "Kafkaesque approvals must go")
    # "kafka" matches one decision as written; the typo "kafak" brings in both, after it.
    body = search(write_api, q="kafka or kafak")
    assert texts(body) == ["Adopt Kafka", "Kafkaesque approvals must go"]
    assert body["results"][0]["score_detail"]["text"] > body["results"][1]["score_detail"]["text"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "q",
    [
        "http://example.com/o'reilly's-guid",  # an unknown lexeme holding a quote, close to a known one
        "c:\\toolz\\ o''reily",
        '"relase notes" -kafak OR stirpe',
        "'; DROP TABLE decisions_decisionword; --",
        "zzqx & | ! <-> :* ()",
    ],
)
def test_queries_with_quotes_backslashes_and_operators_are_corrected_safely(write_api, q):
    record(write_api, "Read http://example.com/o'reilly's-guide before the release notes")
    record(write_api, "Bill customers through Stripe")
    body = search(write_api, q=q)  # 200, the usual body
    assert isinstance(body["results"], list) and body["count"] == len(body["results"])
    assert search(write_api, q="stripe")["count"] == 1  # nothing was dropped or changed


@pytest.mark.django_db(transaction=True)
def test_a_word_under_three_characters_is_dropped_not_corrected(write_api):
    record(write_api, "Adopt Xcode for the iOS build")
    # "x" shares its only leading trigram with "xcode": too little to call it a typo of it.
    assert search(write_api, q="x")["count"] == 0
    assert texts(search(write_api, q="xcode zq")) == ["Adopt Xcode for the iOS build"]


def test_no_second_ranking_when_the_correction_changes_nothing(product, inproc_for, user):
    make(product, "Read http://example.com/o'reilly's-guide first")
    client = inproc_for(user, "read")
    # to_tsvector and websearch_to_tsquery split this URL differently (websearch ends a term at
    # "("): its unknown lexemes are not in the query's tree, where no rewrite could change them,
    # so none is corrected.
    with CaptureQueriesContext(connection) as captured:
        response = client.get(SEARCH, {"q": "example.com/wiki/Foo_(bar)"})
    assert response.status_code == 200 and response.json()["count"] == 0
    statements = [query["sql"] for query in captured.captured_queries]
    assert not any("WITH RECURSIVE unknown" in sql for sql in statements)
    assert not any("corrected AS" in sql for sql in statements)
    # A URL with a scheme is read as the decision's text is (apps/memory/search_query.py): its
    # misspelt path is corrected like any word.
    found = client.get(SEARCH, {"q": "http://example.com/o'reilly's-guid"}).json()
    assert [hit["decision"] for hit in found["results"]] == ["Read http://example.com/o'reilly's-guide first"]


@pytest.mark.django_db(transaction=True)
def test_an_excluded_word_is_taken_as_written_never_corrected(write_api):
    record(write_api, "Bill customers through Stripe")
    record(write_api, "Bill customers through Stripe and Kafka")
    # "strpe" → stripe. "-kafak" excludes nothing as written; corrected to kafka, it would exclude
    # a decision the query never named.
    body = search(write_api, q="strpe -kafak")
    assert sorted(texts(body)) == ["Bill customers through Stripe", "Bill customers through Stripe and Kafka"]


@pytest.mark.django_db(transaction=True)
def test_at_most_the_first_16_unknown_words_are_corrected(write_api):
    record(write_api, "Bill customers through Stripe")
    # Words with nothing close are dropped, and count: past 16 of them, a typo must match as written.
    nothing_close = [f"zq{letter}x" for letter in "abcdefghijklmnop"]
    assert texts(search(write_api, q=" ".join([*nothing_close[1:], "strpe"]))) == ["Bill customers through Stripe"]
    assert texts(search(write_api, q=" ".join([*nothing_close, "strpe"]))) == []
    assert len(nothing_close) == ranking.CORRECTED_WORDS_MAX


def test_the_excluded_words_of_a_long_query_cost_no_correction(product, inproc_for, user):
    make(product, "Adopt alpha for builds")
    make(product, "Keep w00000 around")  # close to each excluded word: each was compared with it
    q = "alpah " + " ".join(f"-w{i:05d}" for i in range(1, 60))
    client = inproc_for(user, "read")
    with function_calls() as calls:
        response = client.get(SEARCH, {"q": q})
    assert response.status_code == 200, response.content
    assert texts(response.json()) == ["Adopt alpha for builds"]
    assert calls.get("word_similarity", 0) <= 2  # "alpah" with "alpha" alone
