"""The ``merged_into`` of restored decisions (``restore_decisions``): the survivor consolidation
merged a copy into, so that deleting the survivor still deletes its copies after an import.

A copy's survivor is linked when it is here (placed by this import or before), else its original
id waits in ``merged_into_pending`` — a copy comes before its survivor, which supersedes it — and
the chunk that places the survivor links the copies waiting for it (``merges_link``). Only a merge
as consolidation records it is linked: the survivor, in the copy's product, reached from the copy
by following ``superseded_by``. A chunk links the copies that reach their survivor and leaves the
others waiting, since a later chunk may place a decision between them (a chain merged more than
once: S ← c2 ← c1, c1 coming first); so the outcome does not depend on where chunks end. Once
every chunk is written, those still apart are settled (``merges_settle``): a ``merged_into`` that
is no merge (a current decision, another product, a cycle) is dropped with a warning, since
deleting the survivor deletes its copies, unless the chain still lacks a decision the document
names (a ``superseded_by`` naming one not here: a file cut into parts), when it keeps waiting for
that decision's import.
"""

from __future__ import annotations

import uuid

from django.db import connection

from apps.decisions.models import Decision
from apps.memory.mif.restore import IMPORTED, ids_in_space
from apps.products.models import ProductState
from apps.products.services import products_lock
from apps.scopes.models import Space
from synchronex.db.deadlocks import retry_deadlocks

NOT_MERGED = "Imported without its link to decision {}, which it was merged into (merged_into):"
NOT_A_MERGE = "the survivor does not supersede the copy in its product (directly or along superseded_by)."


def survivors_awaited(*, space: Space) -> set[uuid.UUID]:
    """The original ids some copy of the space names in ``merged_into`` but that are not linked."""
    rows = Decision.objects.filter(space=space, merged_into_pending__isnull=False)
    return set(rows.values_list("merged_into_pending", flat=True))


@retry_deadlocks
def merges_settle(*, space: Space, unsettled: dict, records: list, placed: dict, results: list) -> None:
    """Once every chunk is written, decide the copies they left waiting for these survivors (``{original
    id: id}``): linked if they now reach theirs, else dropped with a warning, unless their chain ends
    at a decision whose record (of ``records``, the import's, in the order of ``results``) names in
    ``superseded_by`` one not here. ``placed``: original id → id of the import's decisions.
    A few statements for the whole import, whatever its size."""
    absent = {record.superseded_by for record in records if record.superseded_by is not None}
    absent -= placed.keys()
    absent -= ids_in_space(Decision, space=space, originals=absent, kind="decision").keys()
    position = {placed[r.original]: i for i, r in enumerate(records) if r.original in placed}
    missing = [placed[r.original] for r in records if r.superseded_by in absent and r.original in placed]
    waiting = Decision.objects.filter(space=space, merged_into_pending__in=list(unsettled))
    products_lock(product_ids=ProductState.objects.filter(pk__in=waiting.values("product_id")).values("pk"))
    new = {pk for pk, i in position.items() if results[i].outcome == IMPORTED}
    merges_link(space, unsettled, position, new, results, missing=missing)


def merges_link(space: Space, ready: dict, position: dict, new: set, results: list, *, missing=None) -> dict:
    """Link the copies of ``space`` waiting for these survivors (``{original id: id}``) to them, in
    one statement, when the survivor merged the copy as consolidation does: it is in the copy's
    product and reached from it by ``superseded_by`` within that product (consolidation chains the
    copies it merges). Returns the survivors of the copies it left waiting.

    A chunk (``missing`` None) leaves the others waiting. ``merges_settle`` (``missing``: the decisions
    whose successor is not here) leaves waiting those whose chain ends, in their product, at such a
    decision, and drops the other ``merged_into`` — a link that would make deleting the survivor
    delete a decision it does not supersede — told in the warnings of the copy, when this import
    placed it (``new``; ``position``: id → index in ``results``), else of the survivor.
    """
    table = Decision._meta.db_table
    with connection.cursor() as cursor:
        # ``up``: the copy and the decisions above it, each in the copy's product but the last.
        cursor.execute(
            f"WITH RECURSIVE copies AS (SELECT d.id, d.origin_id, d.product_id, v.original, v.survivor"
            f" FROM {table} d JOIN unnest(%s::uuid[], %s::uuid[]) AS v(original, survivor)"
            " ON d.merged_into_pending = v.original WHERE d.space_id = %s), "
            "up(copy, product, id) AS (SELECT id, product_id, id FROM copies "
            f"UNION SELECT up.copy, up.product, d.superseded_by_id FROM up JOIN {table} d"
            " ON d.id = up.id AND d.product_id = up.product WHERE d.superseded_by_id IS NOT NULL), "
            "checked AS (SELECT c.id, c.origin_id, c.original, c.survivor, EXISTS (SELECT FROM up JOIN"
            f" {table} s ON s.id = up.id WHERE up.copy = c.id AND up.id = c.survivor AND s.product_id = up.product)"
            f" AS kept, EXISTS (SELECT FROM up JOIN {table} s ON s.id = up.id WHERE up.copy = c.id"
            " AND s.product_id = up.product AND s.superseded_by_id IS NULL AND s.id = ANY(%s::uuid[]))"
            " AS open FROM copies c), "
            f"settled AS (UPDATE {table} AS d SET merged_into_pending = NULL,"
            " merged_into_id = CASE WHEN checked.kept THEN checked.survivor END FROM checked"
            " WHERE d.id = checked.id AND (checked.kept OR (%s AND NOT checked.open))) "
            "SELECT id, origin_id, original, survivor, kept, open FROM checked",
            [list(ready), list(ready.values()), space.pk, missing or [], missing is not None],
        )
        rows = cursor.fetchall()
    waits = {}
    for pk, origin, survivor, survivor_pk, kept, open_ in rows:
        if kept:
            continue
        if missing is None or open_:
            waits[survivor] = survivor_pk
        elif pk in new:
            results[position[pk]].warnings.append(f"{NOT_MERGED.format(survivor)} {NOT_A_MERGE}")
        elif survivor_pk in position:
            message = f"Decision {origin or pk} is not linked as merged into it (merged_into): {NOT_A_MERGE}"
            results[position[survivor_pk]].warnings.append(message)
    return waits
