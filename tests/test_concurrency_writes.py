"""Concurrent writers on the production shape: gunicorn with four worker processes, many clients at once.

- The kernel with ``If-Match``: no lost update. Writers read, change and write back with the
  version they read, retrying on PRECONDITION_FAILED; every item any writer added is in the final
  kernel, every successful write left a revision, and the final version is the number of writes.
- The kernel without ``If-Match``: last writer wins, as documented. Every write succeeds and is
  kept as a revision in order; the kernel is whatever the last one wrote; a read-modify-write
  cycle may lose another writer's change (that is what If-Match is for).
- The same MIF document imported by many clients at once: each memory exists once.
- One Idempotency-Key retried by many clients at once: one decision, one first response.
- Decisions bringing the same new words at once: every write succeeds and the space's words (what
  typo correction reads) hold each word once, with the exact count of decisions holding it, also
  after half of them are deleted at once; deleting the rest at once leaves none.
"""

from __future__ import annotations

import random
from collections import Counter

import pytest
import requests
from django.db import connection

from apps.decisions.models import Decision, DecisionWord
from apps.identity.models import KernelRevision
from apps.memory.models import Memory
from tests.support import servers
from tests.support.concurrency import together

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

WRITERS = 8
ITEMS_PER_WRITER = 5  # 40 items: within the 50 constraints the kernel allows


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        settings_dict = dict(connection.settings_dict)
    env = {"DATABASE_URL": servers.database_url(settings_dict), "REDIS_URL": ""}
    with servers.gunicorn(env, workers=4) as base:
        yield base


@pytest.fixture
def token(transactional_db, make_user, make_key):
    return make_key(make_user(tier="enterprise", daily_limit=1_000_000, minute_limit=100_000))


def session_for(token: str) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {token}"
    return session


def history(session: requests.Session, base: str) -> list[dict]:
    revisions, offset = [], 0
    while offset is not None:
        page = session.get(base + "/api/v1/memory/identity/history", params={"limit": 100, "offset": offset}).json()
        revisions += page["results"]
        offset = page["next_offset"]
    return revisions


# -- the kernel ---------------------------------------------------------------------------------------
def test_with_if_match_no_update_is_lost(server, token):
    def writer(i: int) -> tuple[int, int]:
        session = session_for(token)
        written = conflicts = 0
        while written < ITEMS_PER_WRITER:
            current = session.get(server + "/api/v1/memory/identity", timeout=30)
            assert current.status_code == 200, current.text
            always = (current.json()["constraints"] or {}).get("always", [])
            body = {"constraints": {"always": [*always, f"writer {i} item {written}"]}}
            response = session.put(
                server + "/api/v1/memory/identity", json=body, headers={"If-Match": current.headers["ETag"]}, timeout=30
            )
            if response.status_code == 412:
                assert response.json()["error"]["code"] == "PRECONDITION_FAILED"
                conflicts += 1
                continue
            assert response.status_code == 200, response.text
            written += 1
        return written, conflicts

    results = together(WRITERS, writer)
    successes = sum(written for written, _ in results)
    assert successes == WRITERS * ITEMS_PER_WRITER
    assert sum(conflicts for _, conflicts in results) > 0, "the writers never overlapped: nothing was proven"

    session = session_for(token)
    final = session.get(server + "/api/v1/memory/identity").json()
    expected = {f"writer {i} item {n}" for i in range(WRITERS) for n in range(ITEMS_PER_WRITER)}
    assert sorted(final["constraints"]["always"]) == sorted(expected)  # every change, exactly once
    assert final["version"] == successes
    revisions = history(session, server)
    assert sorted(r["version"] for r in revisions) == list(range(1, successes + 1))
    # Each revision holds one more item than the one before: writes were applied one after another.
    by_version = {r["version"]: r["snapshot"]["constraints"]["always"] for r in revisions}
    for version in range(2, successes + 1):
        assert by_version[version][:-1] == by_version[version - 1]


def test_without_if_match_the_last_writer_wins_and_every_write_is_a_revision(server, token):
    def writer(i: int) -> dict:
        body = {"identity": {"name": f"Writer {i}"}, "constraints": {"always": [f"rule of writer {i}"]}}
        response = session_for(token).put(server + "/api/v1/memory/identity", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    answers = together(WRITERS, writer)
    assert sorted(a["version"] for a in answers) == list(range(1, WRITERS + 1))  # no two writes share a version
    session = session_for(token)
    final = session.get(server + "/api/v1/memory/identity").json()
    last = max(answers, key=lambda a: a["version"])
    assert final["version"] == WRITERS
    assert final["identity"] == last["identity"] and final["constraints"] == last["constraints"]
    revisions = history(session, server)
    assert len(revisions) == WRITERS and KernelRevision.objects.count() == WRITERS
    assert {r["snapshot"]["identity"]["name"] for r in revisions} == {f"Writer {i}" for i in range(WRITERS)}


# -- MIF import ---------------------------------------------------------------------------------------
def _mif_document(base: str, token: str) -> dict:
    session = session_for(token)
    session.put(base + "/api/v1/memory/identity", json={"identity": {"name": "Source"}}).raise_for_status()
    for n in range(12):
        body = {"decision": f"Decision {n}", "product_name": f"Product {n % 3}", "tags": ["mif"]}
        session.post(base + "/api/v1/memory/decisions", json=body).raise_for_status()
    mem0 = [{"id": f"m-{n}", "memory": f"Imported memory {n}", "created_at": "2025-01-01T00:00:00Z"} for n in range(20)]
    session.post(base + "/api/v1/memory/import-mif", json=mem0).raise_for_status()
    exported = session.get(base + "/api/v1/memory/export-mif")
    assert exported.status_code == 200
    return exported.json()


def test_parallel_imports_of_one_document_store_each_memory_once(server, token, make_user, make_key):
    document = _mif_document(server, token)
    target = make_key(make_user(tier="enterprise", daily_limit=1_000_000, minute_limit=100_000))
    memories = len(document["memories"])

    def importer(_):
        response = session_for(target).post(server + "/api/v1/memory/import-mif", json=document, timeout=120)
        assert response.status_code == 200, response.text
        return response.json()

    reports = together(6, importer)
    kinds = ("memories_imported", "decisions_imported", "products_imported", "kernel_imported")
    for report in reports:
        assert report["errors"] == [], report["errors"]
        # Each request accounts for every memory: imported by it, or found already there.
        assert sum(int(report[kind]) for kind in kinds) + report["duplicates_skipped"] == memories, report
    # Together, each memory was imported by exactly one of them.
    assert sum(int(r[kind]) for r in reports for kind in kinds) == memories, reports

    again = session_for(target).get(server + "/api/v1/memory/export-mif").json()
    assert len(again["memories"]) == memories
    assert Counter(m["id"] for m in again["memories"]) == Counter(m["id"] for m in document["memories"])
    assert Decision.objects.count() == 2 * 12  # the source's and the target's, once each
    assert Memory.objects.count() == 2 * 20


# -- Idempotency-Key ----------------------------------------------------------------------------------
def test_parallel_retries_of_one_idempotency_key_have_one_effect(server, token):
    body = {"decision": "Ship the proof", "product_name": "Synchronex", "tags": ["retry"]}

    def retry(_):
        response = session_for(token).post(
            server + "/api/v1/memory/decisions", json=body, headers={"Idempotency-Key": "ship-1"}, timeout=30
        )
        return response.status_code, response.headers.get("Idempotent-Replayed"), response.text

    answers = together(12, retry)
    firsts = [a for a in answers if a[0] == 201 and a[1] is None]
    replays = [a for a in answers if a[0] == 201 and a[1] == "true"]
    in_flight = [a for a in answers if a[0] == 409]
    assert len(firsts) == 1, answers
    assert len(firsts) + len(replays) + len(in_flight) == len(answers), answers
    assert all('"CONFLICT"' in text for _, _, text in in_flight)
    assert all(text == firsts[0][2] for _, _, text in replays)  # the first response, byte for byte
    assert Decision.objects.filter(decision="Ship the proof").count() == 1
    # Once settled, any retry gets the first response back.
    status, replayed, text = retry(0)
    assert (status, replayed, text) == (201, "true", firsts[0][2])


# -- the words of a space -----------------------------------------------------------------------------
def test_parallel_decisions_with_the_same_new_words_keep_each_word_once(server, token):
    pool = ["quokka", "narwhal", "axolotl", "pangolin", "okapi", "tapir", "capybara", "wombat"]

    def writer(i: int) -> list[str]:
        session, rng, ids = session_for(token), random.Random(i), []
        for n in range(ITEMS_PER_WRITER):
            text = " ".join(rng.sample(pool, len(pool))) + f" writer{i} item{n}"
            # A product each: their rows do not line the writers up, only the words do.
            body = {"decision": text, "product_name": f"Zoo {i}"}
            response = session.post(server + "/api/v1/memory/decisions", json=body)
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
        return ids

    def holders() -> tuple[Counter, Counter]:
        """Each word's holders as stored, and as counted from the decisions."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT w FROM decisions_decision, unnest(tsvector_to_array(search_document)) w WHERE space_id = %s",
                [space.pk],
            )
            counted = Counter(word for (word,) in cursor.fetchall())
        return Counter(dict(DecisionWord.objects.filter(space=space).values_list("word", "holders"))), counted

    ids = [i for batch in together(WRITERS, writer) for i in batch]
    space = Decision.objects.get(pk=ids[0]).space
    stored, counted = holders()
    assert stored == counted and (stored["quokka"], stored["writer7"]) == (WRITERS * ITEMS_PER_WRITER, ITEMS_PER_WRITER)

    def deleter(i: int, part: slice) -> None:
        session = session_for(token)
        for decision_id in ids[part][i::WRITERS]:
            response = session.delete(server + f"/api/v1/memory/decisions/{decision_id}")
            assert response.status_code == 204, response.text

    together(WRITERS, lambda i: deleter(i, slice(None, len(ids) // 2)))
    stored, counted = holders()
    assert stored == counted and stored["quokka"] == len(ids) - len(ids) // 2
    together(WRITERS, lambda i: deleter(i, slice(len(ids) // 2, None)))
    assert not DecisionWord.objects.filter(space=space).exists()
