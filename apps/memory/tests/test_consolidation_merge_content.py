"""Step 2 of consolidation keeps what the merged duplicates said (SPEC §9: "nothing is lost"),
and groups near-duplicates around their survivor, not along chains of neighbours. Decisions are
written and searched over real HTTP; the job runs in this process, as in test_consolidation_steps."""

from __future__ import annotations

import pytest

from apps.decisions.models import (
    AFFECTS_MAX,
    ALTERNATIVES_MAX,
    REASONING_MAX,
    TAGS_MAX,
    Decision,
)
from apps.decisions.services import decision_create
from apps.decisions.tests.helpers import DECISIONS, record, search
from apps.memory.embedding_runs import embeddings_compute_pending
from apps.memory.tests.fake_openai import bag_of_words_vector
from apps.scopes.services import space_ensure_personal
from tests.support.consolidation import consolidate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]

REASONING_SEPARATOR = "\n\n---\n\n"  # between reasonings a survivor took from its duplicates (README)


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def ids(body: dict) -> list[str]:
    return [hit["id"] for hit in body["results"]]


def shown(client, decision_id: str) -> dict:
    response = client.get(f"{DECISIONS}/{decision_id}")
    assert response.status_code == 200, response.text
    return response.json()


def test_the_survivor_takes_the_tags_products_alternatives_and_reasoning_of_its_duplicates(space, write_api, read_api):
    first = record(write_api, "Store sessions in Redis", "Hub", reasoning="fast")
    second = record(
        write_api,
        "Store sessions in Redis.",
        "Hub",
        tags=["auth"],
        affects_products=["Vega"],
        alternatives=["memcached"],
        reasoning="Sessions expire on their own.",
    )
    assert ids(search(read_api, tags="auth")) == [second["id"]]
    assert ids(search(read_api, product="Vega")) == [second["id"]]

    assert consolidate(space)["decisions_merged"] == 1
    survivor = shown(read_api, first["id"])
    assert survivor["superseded_by"] is None
    assert survivor["tags"] == ["auth"]
    assert survivor["affects_products"] == ["Vega"]
    assert survivor["alternatives"] == ["memcached"]
    assert survivor["reasoning"] == "fast" + REASONING_SEPARATOR + "Sessions expire on their own."
    # The default views (current decisions only) still find what the duplicate said.
    assert ids(search(read_api, tags="auth")) == [first["id"]]
    vega = search(read_api, product="Vega")
    assert ids(vega) == [first["id"]] and vega["results"][0]["match"] == "affects"
    assert ids(search(read_api, q="sessions expire")) == [first["id"]]  # the search document followed
    # The duplicate is superseded and keeps its own fields.
    merged = shown(read_api, second["id"])
    assert merged["superseded_by"] == first["id"] and merged["tags"] == ["auth"]
    assert merged["reasoning"] == "Sessions expire on their own."

    # Idempotent: a second run merges nothing and changes nothing.
    assert consolidate(space)["decisions_merged"] == 0
    assert shown(read_api, first["id"]) == survivor


def test_the_survivor_absorbs_in_age_order_within_the_bounds_and_the_rest_stays_on_the_duplicates(space):
    def decide(text, **fields):
        return decision_create(space=space, decision=text, product_name="Atlas", **fields)

    own_tags = [f"own-{n}" for n in range(TAGS_MAX - 3)]
    survivor = decide(
        "Ship on Fridays",
        tags=own_tags,
        affects_products=["Vega", *(f"P{n}" for n in range(AFFECTS_MAX - 2))],
        alternatives=["Mondays"],
        reasoning="r" * (REASONING_MAX - 40),
    )
    second = decide(
        "ship on fridays!",
        tags=["own-1", "second-a", "second-b"],
        affects_products=["VEGA", "Lyra"],  # Vega under another spelling: the survivor has it
        alternatives=["Mondays", "Tuesdays"],
        reasoning="r" * (REASONING_MAX - 40),  # the survivor's own: not repeated
    )
    third = decide(
        "Ship on Fridays.",
        tags=["third-a", "third-b"],
        affects_products=["Orion", "Lyra"],
        alternatives=[f"Day {n}" for n in range(ALTERNATIVES_MAX)],
        reasoning="Weekends are quiet.",
    )
    fourth = decide("SHIP ON FRIDAYS", reasoning="x" * 100)  # does not fit the 40 left
    assert consolidate(space)["decisions_merged"] == 3

    survivor.refresh_from_db()
    # The survivor's own first, then each duplicate's in the order they were recorded.
    assert survivor.tags == [*own_tags, "second-a", "second-b", "third-a"]
    assert survivor.affects_products == ["Vega", *(f"P{n}" for n in range(AFFECTS_MAX - 2)), "Lyra"]
    assert survivor.affects_keys[-1] == "lyra"  # the product keys follow (a generated column)
    assert survivor.alternatives == ["Mondays", "Tuesdays", *(f"Day {n}" for n in range(ALTERNATIVES_MAX - 2))]
    assert survivor.reasoning == "r" * (REASONING_MAX - 40) + REASONING_SEPARATOR + "Weekends are quiet."
    assert len(survivor.reasoning) <= REASONING_MAX
    # What did not fit stays on the duplicates, which keep all they had.
    third.refresh_from_db()
    fourth.refresh_from_db()
    assert third.tags == ["third-a", "third-b"] and "third-b" not in survivor.tags
    assert "Orion" in third.affects_products and "Orion" not in survivor.affects_products
    assert len(third.alternatives) == ALTERNATIVES_MAX
    assert fourth.reasoning == "x" * 100 and fourth.superseded_by_id is not None
    second.refresh_from_db()
    assert second.tags == ["own-1", "second-a", "second-b"]

    before = Decision.objects.filter(pk=survivor.pk).values().get()
    assert consolidate(space)["decisions_merged"] == 0
    assert Decision.objects.filter(pk=survivor.pk).values().get() == before


def test_a_survivor_whose_embedded_text_changed_is_embedded_again(space, openai_embeddings):
    survivor = decision_create(space=space, decision="Use Postgres", product_name="Atlas", reasoning="One engine.")
    kept = decision_create(space=space, decision="Use Redis for the cache", product_name="Atlas")
    embeddings_compute_pending(space=space)
    kept_vector = list(Decision.objects.get(pk=kept.pk).embedding)
    decision_create(space=space, decision="use postgres", product_name="Atlas", tags=["database"])

    stats = consolidate(space)
    assert stats["decisions_merged"] == 1
    assert stats["embeddings_computed"] == 2  # the new duplicate's, and the survivor's again
    survivor = Decision.objects.get(pk=survivor.pk)
    assert survivor.tags == ["database"]
    expected = bag_of_words_vector("Use Postgres\ndatabase\nOne engine.", openai_embeddings.dimensions)
    assert list(survivor.embedding) == pytest.approx(expected, abs=1e-6)
    assert list(Decision.objects.get(pk=kept.pk).embedding) == kept_vector  # untouched


# Each one edit away from the one before (similarity ≥ 0.9 to it), drifting away from the first:
# similarity to CHAIN[0] is 0.984, 0.910, 0.820, 0.766, 0.687; CHAIN[3] to CHAIN[4] 0.932, to
# CHAIN[5] 0.841; CHAIN[4] to CHAIN[5] 0.904.
CHAIN_BASE = (
    "Use Postgres full-text search for the decision index of every product in the team workspace,"
    " with nightly backups kept for a month on cold storage"
)
CHAIN_EDITS = [
    ("decision index", "decisions index"),
    ("cold storage", "object storage"),
    ("full-text", "trigram"),
    ("team workspace", "shared workspace"),
    ("Postgres", "MySQL"),
]


def chain_texts() -> list[str]:
    texts = [CHAIN_BASE]
    for old, new in CHAIN_EDITS:
        texts.append(texts[-1].replace(old, new, 1))
    return texts


def test_near_duplicates_join_their_survivor_not_a_chain_of_neighbours(space, write_api, read_api):
    made = [record(write_api, text)["id"] for text in chain_texts()]
    # 0 takes 1 and 2 (≥ 0.9 to it); of the rest, 3 is the oldest and takes 4; 5 is near only
    # 4, which is no survivor, so it stays on its own.
    assert consolidate(space)["decisions_merged"] == 3
    links = {pk: shown(read_api, pk)["superseded_by"] for pk in made}
    assert [links[pk] is None for pk in made] == [True, False, False, True, False, True]
    assert links[made[1]] == made[0] and links[made[2]] == made[1]  # a chain ending at the survivor
    assert links[made[4]] == made[3]
    assert made[5] in ids(search(read_api, q="MySQL search"))
    # One run reached what a second would leave: nothing more merges.
    assert consolidate(space)["decisions_merged"] == 0


# A revision, not a copy, though trigram similarity alone took each pair for one (≥ 0.9): the
# numbers or the negations differ. Each pair is recorded old then new, in a product of its own.
REVISIONS = [
    ("Do not store card numbers in Postgres", "Do store card numbers in Postgres"),  # 0.919
    (
        "Set the public API rate limit to 100 requests per minute per key",
        "Set the public API rate limit to 1000 requests per minute per key",  # 0.983
    ),
    ("Free accounts are limited to 3 projects per workspace", "Free accounts are limited to 5 projects per workspace"),
    ("The mobile app will support Android 12 and newer", "The mobile app will support Android 10 and newer"),
    # Trigram similarity 1.0 (sets of trigrams, blind to order): the numbers or the negation moved.
    (
        "Release freeze starts on 2025-03-04 for the mobile app and the web app",
        "Release freeze starts on 2025-04-03 for the mobile app and the web app",
    ),
    (
        "Set the HTTP client timeout to 30 seconds and the retry count to 5",
        "Set the HTTP client timeout to 5 seconds and the retry count to 30",
    ),
    (
        "Do not use Redis for the job queue; use PostgreSQL for the job queue",
        "Use Redis for the job queue; do not use PostgreSQL for the job queue",
    ),
]
# True near-duplicates, which still merge: punctuation (1.0), a typo (0.935, the same number in
# both), "the" for "a" (0.906).
NEAR_DUPLICATES = [
    (
        "Deploy the billing service with blue-green releases on Fridays",
        "Deploy the billing service, with blue-green releases, on Fridays!",
    ),
    (
        "Keep the staging environment running on a single Kubernetes cluster in eu-west-1",
        "Keep the staging enviroment running on a single Kubernetes cluster in eu-west-1",
    ),
    (
        "Deploy the billing service with blue-green releases on Fridays",
        "Deploy a billing service with blue-green releases on Fridays",
    ),
]


def test_a_revision_with_other_numbers_or_negations_is_no_duplicate(space, write_api, read_api):
    revisions = [[record(write_api, text, f"Rev{n}")["id"] for text in pair] for n, pair in enumerate(REVISIONS)]
    copies = [[record(write_api, text, f"Dup{n}")["id"] for text in pair] for n, pair in enumerate(NEAR_DUPLICATES)]

    assert consolidate(space)["decisions_merged"] == len(NEAR_DUPLICATES)
    for n, (old, new) in enumerate(revisions):
        # Both stay current, the newer first: the team's latest word is not hidden under the old one.
        assert ids(search(read_api, product=f"Rev{n}")) == [new, old]
    for n, (first, second) in enumerate(copies):
        assert ids(search(read_api, product=f"Dup{n}")) == [first]
        assert shown(read_api, second)["superseded_by"] == first
    assert ids(search(read_api, q="rate limit 1000")) == [revisions[1][1]]
