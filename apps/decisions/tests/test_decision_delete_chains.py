"""Deleting a decision that is part of a supersede chain, or that consolidation merged duplicates
into: its text leaves every surface in one call, and no replaced decision is current again."""

from __future__ import annotations

import importlib

import pytest
from django.db import connection
from django.utils import timezone

from apps.decisions.models import Decision, DecisionWord
from apps.mcp.tests.conftest import Mcp
from apps.memory.consolidation import consolidation_job_request, consolidation_job_run
from apps.scopes.services import space_ensure_personal

from .helpers import DECISIONS, record, search, texts

pytestmark = pytest.mark.django_db(transaction=True)

REDIS = "Store sessions in Redis"
NEAR = "Use Postgres full-text search for the decision index."


def consolidate(user) -> dict:
    """One consolidation run of the user's personal space (the worker's task body, in process)."""
    job, created = consolidation_job_request(space=space_ensure_personal(user=user))
    assert created
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"
    job.refresh_from_db()
    return job.stats


def read(client, decision: dict) -> dict:
    response = client.get(f"{DECISIONS}/{decision['id']}")
    assert response.status_code == 200, response.text
    return response.json()


def delete(client, decision: dict) -> None:
    assert client.delete(f"{DECISIONS}/{decision['id']}").status_code == 204


def exported(client) -> str:
    response = client.get("/api/v1/kernel/export", params={"format": "json", "product": "Atlas"})
    assert response.status_code == 200, response.text
    return response.json()["content"]


def test_deleting_the_middle_of_a_chain_links_its_successor_to_its_predecessor(write_api):
    alpha = record(write_api, "Host on Heroku")
    beta = record(write_api, "Host on Render", supersedes=alpha["id"])
    gamma = record(write_api, "Host on Fly.io", supersedes=beta["id"])

    delete(write_api, beta)

    assert read(write_api, gamma)["supersedes"] == alpha["id"]
    assert read(write_api, alpha)["superseded_by"] == gamma["id"]
    assert texts(search(write_api)) == ["Host on Fly.io"]
    assert "Heroku" not in exported(write_api)


def test_deleting_the_head_of_a_chain_makes_the_decision_it_replaced_current_again(write_api):
    alpha = record(write_api, "Host on Heroku")
    beta = record(write_api, "Host on Render", supersedes=alpha["id"])
    gamma = record(write_api, "Host on Fly.io", supersedes=beta["id"])

    delete(write_api, gamma)

    assert read(write_api, beta)["superseded_by"] is None
    assert read(write_api, alpha)["superseded_by"] == beta["id"]
    assert texts(search(write_api)) == ["Host on Render"]


def test_deleting_a_consolidated_decision_deletes_the_copies_merged_into_it(write_api, user, base_url, make_key):
    made = [record(write_api, REDIS, reasoning=f"reason {n}") for n in range(3)]
    assert consolidate(user)["decisions_merged"] == 2
    (survivor,) = search(write_api)["results"]
    assert survivor["id"] == made[0]["id"]

    delete(write_api, survivor)

    for decision in made:
        assert write_api.get(f"{DECISIONS}/{decision['id']}").status_code == 404
    assert search(write_api, include_superseded="true")["results"] == []
    assert write_api.get("/api/v1/memory/product/Atlas/state").json()["recent_decisions"] == []
    assert REDIS not in exported(write_api)
    assert write_api.get("/api/v1/memory/search", params={"q": "redis"}).json()["count"] == 0
    assert Mcp(base_url, make_key(user, "read")).tool("search_decisions", {"query": "redis"})["results"] == []
    assert not DecisionWord.objects.filter(space=space_ensure_personal(user=user)).exists()  # typo correction's words


def test_a_consolidated_decision_superseded_by_hand_leaves_its_chain_whole(write_api, user):
    ancient = record(write_api, "Store sessions in Memcached")
    survivor = record(write_api, REDIS, supersedes=ancient["id"])
    copy = record(write_api, REDIS.lower())
    assert consolidate(user)["decisions_merged"] == 1
    newest = record(write_api, "Store sessions in Valkey", supersedes=survivor["id"])

    delete(write_api, survivor)

    assert write_api.get(f"{DECISIONS}/{copy['id']}").status_code == 404
    assert read(write_api, newest)["supersedes"] == ancient["id"]
    assert read(write_api, ancient)["superseded_by"] == newest["id"]
    assert texts(search(write_api)) == ["Store sessions in Valkey"]


def test_deleting_a_merged_copy_keeps_the_survivor_and_the_other_copies(write_api, user):
    survivor, first, second = (record(write_api, REDIS) for _ in range(3))
    assert consolidate(user)["decisions_merged"] == 2

    delete(write_api, first)

    assert read(write_api, survivor)["supersedes"] == second["id"]
    assert read(write_api, second)["superseded_by"] == survivor["id"]
    delete(write_api, survivor)  # the copy still goes with it
    assert write_api.get(f"{DECISIONS}/{second['id']}").status_code == 404


def test_a_decision_superseded_by_hand_with_the_same_text_is_not_a_copy(write_api, user):
    older = record(write_api, REDIS, reasoning="for speed")
    newer = record(write_api, REDIS, reasoning="for speed and TTLs", supersedes=older["id"])
    consolidate(user)

    delete(write_api, newer)

    assert read(write_api, older)["superseded_by"] is None
    assert texts(search(write_api)) == [REDIS]


def test_merges_are_recorded_and_hand_supersedes_are_not(write_api, user):
    survivor, copy = record(write_api, REDIS), record(write_api, REDIS)
    replaced = record(write_api, "Store sessions in cookies")
    record(write_api, "Store sessions in the database", supersedes=replaced["id"])
    consolidate(user)
    merged = dict(Decision.objects.filter(merged_into__isnull=False).values_list("pk", "merged_into"))
    assert {str(k): str(v) for k, v in merged.items()} == {copy["id"]: survivor["id"]}


def test_merges_made_before_they_were_recorded_are_found_by_their_shape(write_api, user):
    """Migration 0013 marks the copies of earlier merges: a merge's successor was recorded before
    the decision it supersedes, a hand-made successor after it."""
    backfill = importlib.import_module("apps.decisions.migrations.0013_decision_merged_into").BACKFILL_SQL
    written = (NEAR, NEAR.upper(), "Use Postgres full-text search for the decisions index")  # similarity 0.94
    survivor, *copies = (record(write_api, text) for text in written)
    ancient = record(write_api, "Use cookies")
    replaced = record(write_api, "Use cookies!", supersedes=ancient["id"])  # the same text, by hand
    skewed = record(write_api, "Use JWTs")
    # A successor stamped earlier than its predecessor (web servers' clocks apart), another text.
    Decision.objects.filter(pk=skewed["id"]).update(created_at=Decision.objects.get(pk=replaced["id"]).created_at)
    record(write_api, "Use server-side sessions", supersedes=skewed["id"])
    Decision.objects.filter(pk=skewed["id"]).update(created_at=timezone.now())
    assert consolidate(user)["decisions_merged"] == 2
    Decision.objects.update(merged_into=None)

    with connection.cursor() as cursor:
        cursor.execute(backfill)

    merged = dict(Decision.objects.filter(merged_into__isnull=False).values_list("pk", "merged_into"))
    assert {str(k): str(v) for k, v in merged.items()} == {copy["id"]: survivor["id"] for copy in copies}


def test_merges_made_before_they_were_recorded_are_found_in_chains_merged_more_than_once(write_api, user):
    """A second merge puts its copies between the survivor and the first copies, and a merge into a
    decision later superseded by hand sits below its successor: migration 0013 finds what each run
    recorded, however often the chain was merged."""
    backfill = importlib.import_module("apps.decisions.migrations.0013_decision_merged_into").BACKFILL_SQL
    train = record(write_api, "Release train every Tuesday")
    copies = [record(write_api, text) for text in ("release train every tuesday.", "Release train every Tuesday!")]
    kept = record(write_api, "Store sessions in Redis", product="Borealis")
    kept_copy = record(write_api, "store sessions in redis", product="Borealis")
    cookies = record(write_api, "Use cookies", product="Cosmos")
    by_hand = record(write_api, "Use cookies!", product="Cosmos", supersedes=cookies["id"])  # the same text
    cookie_copy = record(write_api, "use cookies", product="Cosmos")
    assert consolidate(user)["decisions_merged"] == 4
    late = record(write_api, "RELEASE TRAIN EVERY TUESDAY")  # S ← late ← copy ← copy
    valkey = record(write_api, "Store sessions in Valkey", product="Borealis", supersedes=kept["id"])
    valkey_copy = record(write_api, "Store sessions in Valkey.", product="Borealis")  # valkey ← copy ← kept ← copy
    cookie_late = record(write_api, "USE COOKIES", product="Cosmos")
    assert consolidate(user)["decisions_merged"] == 3
    recorded = dict(Decision.objects.filter(merged_into__isnull=False).values_list("pk", "merged_into"))
    survivors = {
        **{copy["id"]: train["id"] for copy in [*copies, late]},
        kept_copy["id"]: kept["id"],
        valkey_copy["id"]: valkey["id"],
        **{copy["id"]: by_hand["id"] for copy in (cookie_copy, cookie_late)},
    }
    assert {str(k): str(v) for k, v in recorded.items()} == survivors
    Decision.objects.update(merged_into=None)

    with connection.cursor() as cursor:
        cursor.execute(backfill)

    assert dict(Decision.objects.filter(merged_into__isnull=False).values_list("pk", "merged_into")) == recorded
