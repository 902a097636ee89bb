"""The database keeps ``superseded_by`` in step with ``supersedes`` for every write path."""

from __future__ import annotations

import pytest

from apps.decisions.models import Decision

from .helpers import make

pytestmark = pytest.mark.django_db


def marks(*decisions) -> list:
    return [Decision.objects.get(pk=d.pk).superseded_by_id for d in decisions]


def test_writing_supersedes_marks_the_older_row(product):
    old = make(product, "old")
    new = make(product, "new", supersedes=old)
    assert marks(old, new) == [new.pk, None]


def test_rows_imported_newest_first_are_marked_too(product):
    old = Decision(space=product.space, product=product, decision="old")
    new = Decision(space=product.space, product=product, decision="new", supersedes_id=old.pk)
    Decision.objects.bulk_create([new, old])
    assert marks(old, new) == [new.pk, None]


def test_repointing_and_clearing_supersedes_moves_the_mark(product):
    first, second = make(product, "first"), make(product, "second")
    new = make(product, "new", supersedes=first)
    new.supersedes = second
    new.save(update_fields=["supersedes"])
    assert marks(first, second) == [None, new.pk]
    new.supersedes = None
    new.save(update_fields=["supersedes"])
    assert marks(first, second) == [None, None]


def test_deleting_either_side_leaves_consistent_rows(product):
    old = make(product, "old")
    new = make(product, "new", supersedes=old)
    new.delete()
    assert marks(old) == [None]
    newer = make(product, "newer", supersedes=old)
    old.delete()
    assert Decision.objects.get(pk=newer.pk).supersedes_id is None
