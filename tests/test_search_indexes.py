"""Every full-text and trigram index of a searched table leads with the space (btree_gin).

A search always narrows to one space, and with the space leading the index it reads only that
space's postings. A text index without it made a word common in another space cost every search
all of that space's matches, dropped afterwards, however small the searched space (measured in
bench/search_bench.py: the ``--small`` space next to the 100,000-decision one). And the listing
without ``q`` counts a space's current decisions through their own small index.
"""

from __future__ import annotations

import pytest
from django.db import connection

from apps.decisions.models import Decision
from apps.ingest.models import Signal
from apps.memory.models import Memory

pytestmark = pytest.mark.django_db

TEXT_OPCLASSES = ("tsvector_ops", "gin_trgm_ops")


def gin_indexes(table: str) -> dict[str, list[tuple[str, str]]]:
    """Each GIN index of ``table``: its key columns with their operator classes, in order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT x.relname, a.attname, opc.opcname"
            " FROM pg_index i"
            " JOIN pg_class x ON x.oid = i.indexrelid"
            " JOIN pg_am am ON am.oid = x.relam"
            " CROSS JOIN LATERAL unnest(i.indkey, i.indclass) WITH ORDINALITY AS k(attnum, opclass, position)"
            " JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
            " JOIN pg_opclass opc ON opc.oid = k.opclass"
            " WHERE i.indrelid = %s::regclass AND am.amname = 'gin'"
            " ORDER BY x.relname, k.position",
            [table],
        )
        found: dict[str, list[tuple[str, str]]] = {}
        for index, column, opclass in cursor.fetchall():
            found.setdefault(index, []).append((column, opclass))
    return found


@pytest.mark.parametrize(
    "model, searched",
    [
        (Decision, {"search_document", "decision"}),
        (Memory, {"search", "content"}),
        (Signal, {"search_document", "title"}),
    ],
)
def test_text_and_trigram_indexes_lead_with_the_space(model, searched):
    indexes = gin_indexes(model._meta.db_table)
    text = {name: keys for name, keys in indexes.items() if any(opclass in TEXT_OPCLASSES for _, opclass in keys)}
    # Each searched column has its index, and every such index starts with the space.
    assert {column for keys in text.values() for column, _ in keys[1:]} == searched, text
    assert all(keys[0][0] == "space_id" for keys in text.values()), text


def test_the_newest_first_listing_counts_through_the_space_index():
    """Counting a space's current decisions (the listing's total) reads ``decision_current_space``
    alone: one deduplicated key per space, a sixth of the pages of the listing's own index."""
    import uuid

    from apps.decisions.ranking import Filters, listing_sql

    filters = Filters(
        space_id=uuid.uuid4(),
        product_name=None,
        product_id=None,
        include_related=True,
        tags=(),
        since=None,
        until=None,
        include_superseded=False,
    )
    sql, params = listing_sql(filters, limit=20, offset=0)
    with connection.cursor() as cursor:
        # A test database is small enough to be read whole; the question is which index serves.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_bitmapscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Index Only Scan using decision_current_space" in plan, plan
