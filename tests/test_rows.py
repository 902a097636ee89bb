"""Instances built from written-out statements behave as the ORM's own (synchronex/api/rows.py)."""

from __future__ import annotations

import pytest
from django.db.models.signals import post_init

from apps.decisions.models import Decision
from apps.decisions.ranking import PAGE_COLUMNS, PAGE_DECISION, PAGE_JOIN, page_decision
from apps.decisions.services import decision_create
from apps.scopes.services import space_ensure_personal
from synchronex.api.rows import fetch_all

pytestmark = pytest.mark.django_db

PAGE_SQL = f"SELECT {PAGE_COLUMNS} FROM decisions_decision d {PAGE_JOIN} WHERE d.id = %s"


@pytest.fixture
def decision(user):
    space = space_ensure_personal(user=user)
    older = decision_create(space=space, decision="Use Postgres", product_name="Atlas", tags=["db"])
    return decision_create(
        space=space,
        decision="Use PostgreSQL 17",
        product_name="Atlas",
        reasoning="Newer planner",
        tags=["db", "ops"],
        alternatives=["MySQL"],
        supersedes=str(older.id),
    )


def built(decision) -> Decision:
    return page_decision(fetch_all(PAGE_SQL, [decision.id])[0])


def test_built_instance_matches_the_orms(decision):
    assert PAGE_DECISION.plain
    ours = built(decision)
    theirs = (
        Decision.objects.select_related("product").only(*PAGE_DECISION.attnames, "product__name").get(pk=decision.pk)
    )
    assert type(ours) is Decision
    assert {name: getattr(ours, name) for name in PAGE_DECISION.attnames} == {
        name: getattr(theirs, name) for name in PAGE_DECISION.attnames
    }
    assert (
        ours.get_deferred_fields() == theirs.get_deferred_fields() == {"search_document", "affects_keys", "embedding"}
    )
    assert (ours._state.adding, ours._state.db) == (False, "default")
    assert ours.product.name == "Atlas" and ours.product.space_id == decision.space_id
    assert ours.supersedes_id == decision.supersedes_id
    assert ours == theirs and hash(ours) == hash(theirs)


def test_a_deferred_field_loads_on_access_and_a_save_updates(decision):
    ours = built(decision)
    assert ours.affects_keys == []  # deferred: read from the database on first access
    ours.reasoning = "Changed through a built instance"
    ours.save(update_fields=["reasoning"])
    assert Decision.objects.count() == 2  # an UPDATE, not a new row
    assert Decision.objects.get(pk=decision.pk).reasoning == "Changed through a built instance"


def test_a_model_watched_by_post_init_is_built_through_init(decision):
    seen = []

    def watch(sender, instance, **kwargs):
        seen.append(instance.pk)

    post_init.connect(watch, sender=Decision)
    try:
        ours = built(decision)
    finally:
        post_init.disconnect(watch, sender=Decision)
    assert seen == [decision.pk]
    assert ours.decision == "Use PostgreSQL 17" and not ours._state.adding
