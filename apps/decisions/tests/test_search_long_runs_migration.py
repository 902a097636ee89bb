"""Migrations decisions 0018 and ingest 0006 change the generated search documents (``SET
EXPRESSION``) of the decisions and signals already stored, both ways, and the space's words kept
by the decisions' triggers, which that rewrite does not fire, follow their documents."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from apps.decisions.models import Decision
from apps.memory.tests.test_search_long_runs import FILLER_TH, FILLER_ZH, long_run
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE = [("decisions", "0017_tags_under_the_rule"), ("ingest", "0005_deleted_signal_keeps_its_external_id")]


def migrate(targets=None) -> None:
    """To ``targets``, or (None) to the latest migrations of every app."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


def words() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT space_id, word, holders FROM decisions_decisionword ORDER BY 1, 2")
        return cursor.fetchall()


def counted() -> list[tuple]:
    """The words of the stored documents, with how many decisions of the space hold each."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT d.space_id, w, count(*) FROM decisions_decision d, unnest(tsvector_to_array(d.search_document)) w"
            " GROUP BY 1, 2 ORDER BY 1, 2"
        )
        return cursor.fetchall()


def held(table: str, phrase: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {table}, unnest(search_document) w WHERE strpos(w.lexeme, %s) > 0", [phrase]
        )
        return cursor.fetchone()[0] > 0


def test_stored_documents_and_the_space_words_are_built_again_both_ways(user):
    space = space_ensure_personal(user=user)
    migrate(BEFORE)
    try:
        product = product_ensure(space=space, name="Long")
        reasoning = long_run(FILLER_ZH, "东京", 900, total=2_000)
        for text in (
            long_run(FILLER_ZH, "数据库迁移工具", 700),
            "Use 数据库迁移工具 now",
            long_run(FILLER_TH, "ฐานข้อมูล", 10),
        ):
            Decision.objects.create(space=space, product=product, decision=text, reasoning=reasoning)
        Decision.objects.create(space=space, product=product, decision="A short one", reasoning="in English")
        with connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO ingest_signal (id, space_id, product_id, type, title, body, data, occurred_at,"
                " received_at, position, source, status)"
                " VALUES (gen_random_uuid(), %s, %s, 'note', 'Notes', %s, '{}', now(), now(), 0, '', 'pending')",
                [space.id, product.id, long_run(FILLER_ZH, "数据库迁移工具", 700, total=3_000)],
            )
        assert not held("decisions_decision", "ฐานข้อมูล") and not held("ingest_signal", "数据库迁移工具")
        before = words()
        assert before == counted()

        migrate()
        assert held("decisions_decision", "ฐานข้อมูล") and held("decisions_decision", "东京")
        assert held("ingest_signal", "数据库迁移工具")
        after = words()
        assert after == counted() != before
        assert any("ฐานข้อมูล" in word for _, word, _ in after)

        migrate(BEFORE)
        assert words() == counted() == before
        assert not held("ingest_signal", "数据库迁移工具")
    finally:
        migrate()
    assert words() == counted()
