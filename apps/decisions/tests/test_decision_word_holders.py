"""How many decisions of the space hold each of its words (``DecisionWord.holders``), counted by
the triggers of migration 0012 on every write path: a delete or an edit then changes its own words'
counts instead of asking the text index whether anything else still holds them."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from apps.decisions.models import Decision
from apps.products.models import ProductState
from apps.products.services import product_ensure
from apps.scopes.models import Space
from apps.scopes.services import space_ensure_personal
from tests.support.concurrency import together

from .helpers import make

pytestmark = pytest.mark.django_db


def stored(space) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT word, holders FROM decisions_decisionword WHERE space_id = %s", [space.pk])
        return dict(cursor.fetchall())


def counted(space) -> dict[str, int]:
    """The holders of each word, counted from the decisions themselves."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT w, count(*) FROM decisions_decision, unnest(tsvector_to_array(search_document)) w"
            " WHERE space_id = %s GROUP BY w",
            [space.pk],
        )
        return dict(cursor.fetchall())


def exact(*spaces) -> bool:
    return all(stored(space) == counted(space) for space in spaces)


def test_holders_stay_exact_through_inserts_edits_moves_and_deletes(product, make_user):
    space = product.space
    kafka = make(product, "Adopt Kafka", tags=["queues"], reasoning="Kafka streams")
    make(product, "Keep Kafka for streams")
    assert stored(space)["kafka"] == 2 and exact(space)

    Decision.objects.bulk_create(
        Decision(space=space, product=product, decision=f"Adopt Kafka topic {i % 3}") for i in range(30)
    )
    assert stored(space)["kafka"] == 32 and stored(space)["topic"] == 30 and exact(space)

    kafka.decision, kafka.reasoning = "Adopt Pulsar", ""  # loses kafka and stream, gains pulsar
    kafka.save()
    assert stored(space)["kafka"] == 31 and stored(space)["pulsar"] == 1 and exact(space)
    Decision.objects.filter(pk=kafka.pk).update(source="mif")  # not a column of the words
    assert exact(space)

    other = product_ensure(space=space_ensure_personal(user=make_user()), name="Borealis")
    Decision.objects.filter(pk=kafka.pk).update(space=other.space, product=other)  # a space move
    assert "pulsar" not in stored(space) and stored(other.space) == {"adopt": 1, "pulsar": 1, "queue": 1}
    assert exact(space, other.space)

    Decision.objects.filter(space=space, decision__endswith="topic 1").delete()
    assert stored(space)["topic"] == 20 and exact(space)
    kafka.delete()
    assert stored(other.space) == {} and exact(space, other.space)

    ProductState.objects.filter(pk=product.pk).delete()  # its decisions go by cascade
    assert stored(space) == {}


def test_deleting_a_space_leaves_no_counts(product):
    make(product, "Adopt Kafka")
    make(product, "Adopt Redis")
    Space.objects.filter(pk=product.space.pk).delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM decisions_decisionword WHERE space_id = %s", [product.space.pk])
        assert cursor.fetchone()[0] == 0


def _decision_entries_read() -> int:
    """Rows and index entries of the decisions table this transaction has read so far (its own
    statistics: a bitmap scan counts every entry it collects, though EXISTS fetches one row)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sum(pg_stat_get_xact_tuples_returned(oid)) FROM pg_class"
            " WHERE oid = 'decisions_decision'::regclass"
            " OR oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = 'decisions_decision'::regclass)"
        )
        return cursor.fetchone()[0]


def _entries_read_deleting_an_old_holder(product, holders: int) -> int:
    long_ago = timezone.now() - timedelta(days=400)
    Decision.objects.bulk_create(
        Decision(space=product.space, product=product, decision="Adopt Zebra", decided_at=long_ago)
        for _ in range(holders)
    )
    # Newer decisions without its words: none of them tells that the words are still held.
    Decision.objects.bulk_create(
        Decision(space=product.space, product=product, decision=f"Filler {i}") for i in range(200)
    )
    old = Decision.objects.filter(space=product.space, decision="Adopt Zebra").values_list("pk", flat=True)[0]
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE decisions_decision")  # planned as a real space's statements are
    before = _decision_entries_read()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM decisions_decision WHERE id = %s", [old])
    return _decision_entries_read() - before


def test_deleting_a_decision_reads_no_other_holder_of_its_words(product, make_user):
    crowded = _entries_read_deleting_an_old_holder(product, holders=600)
    other = product_ensure(space=space_ensure_personal(user=make_user()), name="Borealis")
    sparse = _entries_read_deleting_an_old_holder(other, holders=3)
    # The statement finds its one row; the words trigger reads none (it read every other holder's entry).
    assert crowded == sparse <= 5, (crowded, sparse)
    assert stored(product.space)["zebra"] == 599 and stored(other.space)["zebra"] == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_of_several_statements_keep_exact_counts_without_deadlock(user):
    """Two transactions inserting twice each, their words crossing (an ingest batch writes one
    decision per signal): counted rows are locked by every insert, so both must not hold some."""
    space = space_ensure_personal(user=user)
    atlas = product_ensure(space=space, name="Atlas")
    borealis = product_ensure(space=space, name="Borealis")
    make(atlas, "Alpha omega")  # both words exist: their rows are updated, not inserted
    meet = threading.Barrier(2)

    def writer(i: int) -> str:
        product = (atlas, borealis)[i]
        first, second = ("Alpha", "Omega") if i == 0 else ("Omega", "Alpha")
        try:
            with transaction.atomic():
                make(product, f"{first} plan {i}")
                try:
                    meet.wait(2)  # both hold their first insert's words (or one waits for the other)
                except threading.BrokenBarrierError:
                    pass
                make(product, f"{second} plan {i}")
            return "ok"
        except Exception as exc:  # noqa: BLE001 — the test asserts on it
            return repr(exc)
        finally:
            connections.close_all()

    assert together(2, writer) == ["ok", "ok"]
    assert stored(space)["alpha"] == 3 and exact(space)
    Decision.objects.filter(space=space).delete()
    assert stored(space) == {}
