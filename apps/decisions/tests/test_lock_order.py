"""Decision writes racing each other and consolidation: each in a transaction of its own, on threads.

- A delete that waits on a supersede of the same decision unlinks the new successor (it used to
  fail at commit on the foreign key: an INTERNAL_ERROR, and the decision stayed), or links it to
  the decision the deleted one superseded.
- A supersede waits for a running consolidation's product locks instead of closing a lock cycle
  with it (consolidation locks product rows, then decisions; every decision writer does the same).
- Deleting both ends of a link at once: both go, whatever order the locks meet in.
- What PostgreSQL still aborts as a deadlock's victim runs again by itself (``retry_deadlocks``),
  and what cannot be settled is a 503 that does not claim the database is down.
"""

from __future__ import annotations

import logging
import threading

import pytest
from django.db import OperationalError, connections, transaction

from apps.decisions.models import Decision
from apps.decisions.services import decision_create, decision_delete
from apps.products.models import ProductState
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal
from synchronex.api.exceptions import to_service_error
from synchronex.db.deadlocks import is_deadlock, retry_deadlocks
from tests.support.concurrency import on_thread, together, wait_for_lock_waiters

pytestmark = pytest.mark.django_db(transaction=True)

RETRIED = "was a deadlock's victim"


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def test_a_delete_waiting_on_a_supersede_unlinks_the_new_successor(space):
    older = decision_create(space=space, decision="Use Postgres", product_name="Atlas")
    superseded, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def supersede():
        with transaction.atomic():  # holds the older decision's lock until released
            row = decision_create(space=space, decision="Use Postgres 17", product_name="Atlas", supersedes=older.id)
            superseded.set()
            release.wait(10)
        return row

    writer = on_thread(supersede, outcome, "supersede")
    assert superseded.wait(10)
    deleter = on_thread(lambda: decision_delete(space=space, decision_id=older.id), outcome, "delete")
    wait_for_lock_waiters()
    release.set()
    writer.join(10), deleter.join(10)

    assert outcome["delete"] is None, outcome["delete"]
    assert not Decision.objects.filter(pk=older.pk).exists()
    successor = Decision.objects.get(pk=outcome["supersede"].pk)
    assert successor.supersedes_id is None


def test_a_delete_waiting_on_a_supersede_links_the_new_successor_to_its_predecessor(space):
    oldest = decision_create(space=space, decision="Use MySQL", product_name="Atlas")
    older = decision_create(space=space, decision="Use Postgres", product_name="Atlas", supersedes=oldest.id)
    superseded, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def supersede():
        with transaction.atomic():  # holds the older decision's lock until released
            row = decision_create(space=space, decision="Use Postgres 17", product_name="Borealis", supersedes=older.id)
            superseded.set()
            release.wait(10)
        return row

    writer = on_thread(supersede, outcome, "supersede")
    assert superseded.wait(10)
    deleter = on_thread(lambda: decision_delete(space=space, decision_id=older.id), outcome, "delete")
    wait_for_lock_waiters()
    release.set()
    writer.join(10), deleter.join(10)

    assert outcome["delete"] is None, outcome["delete"]
    assert Decision.objects.get(pk=outcome["supersede"].pk).supersedes_id == oldest.pk
    assert Decision.objects.get(pk=oldest.pk).superseded_by_id == outcome["supersede"].pk


def test_a_supersede_waits_for_consolidation_instead_of_deadlocking_with_it(space, caplog):
    older = decision_create(space=space, decision="Use Redis", product_name="Atlas")
    locked, release = threading.Event(), threading.Event()
    outcome: dict = {}

    def consolidation():
        # The order ``apply_steps`` locks in: the space's product rows, then the decisions it merges.
        with transaction.atomic():
            list(ProductState.objects.select_for_update().filter(space=space).order_by("id"))
            locked.set()
            release.wait(10)
            return len(Decision.objects.select_for_update().filter(pk__in=[older.pk]))

    caplog.set_level(logging.WARNING, logger="synchronex.db.deadlocks")
    merger = on_thread(consolidation, outcome, "consolidation")
    assert locked.wait(10)
    writer = on_thread(
        lambda: decision_create(space=space, decision="Use Valkey", product_name="Atlas", supersedes=older.id),
        outcome,
        "supersede",
    )
    wait_for_lock_waiters()
    release.set()
    merger.join(15), writer.join(15)

    assert outcome["consolidation"] == 1
    assert isinstance(outcome["supersede"], Decision)
    assert RETRIED not in caplog.text  # no lock cycle: the supersede simply waited its turn
    assert Decision.objects.get(pk=older.pk).superseded_by_id == outcome["supersede"].pk


@pytest.mark.parametrize("products", [("Atlas", "Atlas"), ("Atlas", "Borealis")])
def test_both_ends_of_a_link_deleted_at_once_both_go(space, products):
    for _round in range(5):
        first = decision_create(space=space, decision="Adopt Kafka", product_name=products[0])
        second = decision_create(space=space, decision="Adopt Redpanda", product_name=products[1], supersedes=first.id)
        ids = [first.id, second.id]

        def delete(i, ids=ids):
            try:
                return decision_delete(space=space, decision_id=ids[i])
            finally:
                connections.close_all()

        assert together(2, delete) == [None, None]
        assert not Decision.objects.filter(pk__in=ids).exists()


@pytest.mark.parametrize("products", [("Atlas", "Atlas"), ("Atlas", "Borealis")])
def test_two_middles_of_a_chain_deleted_at_once_leave_it_spliced(space, products):
    for _round in range(5):
        chain = [decision_create(space=space, decision="Adopt Kafka", product_name=products[0])]
        for n in range(3):
            text, product = f"Adopt Kafka {n}", products[n % 2]
            chain.append(decision_create(space=space, decision=text, product_name=product, supersedes=chain[-1].id))
        first, *middles, last = chain

        def delete(i, middles=middles):
            try:
                return decision_delete(space=space, decision_id=middles[i].id)
            finally:
                connections.close_all()

        assert together(2, delete) == [None, None]
        assert Decision.objects.get(pk=last.pk).supersedes_id == first.pk
        assert Decision.objects.get(pk=first.pk).superseded_by_id == last.pk


def _meeting_once():
    """A callable the two threads both wait in the first time; later calls return at once."""
    barrier = threading.Barrier(2)

    def meet():
        try:
            barrier.wait(5)
        except threading.BrokenBarrierError:
            pass
        barrier.abort()

    return meet


def _crossed(first_id, second_id, meet):
    """Lock two product rows in the given order, meeting the other thread in between."""
    ProductState.objects.select_for_update().filter(pk=first_id).get()
    meet()
    ProductState.objects.select_for_update().filter(pk=second_id).get()
    return "done"


def test_a_deadlock_victim_runs_again_and_both_writers_succeed(space, caplog):
    a, b = product_ensure(space=space, name="Atlas").pk, product_ensure(space=space, name="Borealis").pk
    meet = _meeting_once()
    crossed = retry_deadlocks(_crossed)
    caplog.set_level(logging.WARNING, logger="synchronex.db.deadlocks")

    def work(i):
        try:
            return crossed(*((a, b) if i == 0 else (b, a)), meet)
        finally:
            connections.close_all()

    assert together(2, work) == ["done", "done"]
    assert caplog.text.count(RETRIED) == 1


def test_an_unsettled_deadlock_is_a_503_that_does_not_blame_the_database(space):
    a, b = product_ensure(space=space, name="Atlas").pk, product_ensure(space=space, name="Borealis").pk
    meet = _meeting_once()

    def work(i):
        try:
            with transaction.atomic():  # no retry here: one of the two is the victim
                return _crossed(*((a, b) if i == 0 else (b, a)), meet)
        except OperationalError as exc:
            return exc
        finally:
            connections.close_all()

    results = together(2, work)
    victims = [r for r in results if isinstance(r, OperationalError)]
    assert len(victims) == 1 and is_deadlock(victims[0])
    error = to_service_error(victims[0])
    assert (error.status, error.code) == (503, "SERVICE_UNAVAILABLE")
    assert "concurrent writes" in error.message and "unavailable" not in error.message
