"""The ``merged_into`` of restored decisions (``restore_decisions``): the survivor consolidation
merged a copy into, so that deleting the survivor still deletes its copies after an import.

A copy's survivor is linked when it is here (placed by this import or before), else its original
id waits in ``merged_into_pending`` — a copy comes before its survivor, which supersedes it — and
the chunk that places the survivor links the copies waiting for it (``merges_link``). Only a merge
as consolidation records it is linked: the survivor, in the copy's product, reached from the copy
by following ``superseded_by``. A chunk links the copies that reach their survivor and leaves the
others waiting, since a later chunk may place a decision between them (a chain merged more than
once: S ← c2 ← c1, c1 coming first); so the outcome does not depend on where chunks end. Once
every chunk is written, those still apart are settled (``merges_settle``), with the copies whose
survivor was here before their chunk: a ``merged_into`` that is no merge (a current decision,
another product, a cycle) is dropped with a warning, since deleting the survivor deletes its
copies, unless the chain still lacks a decision the document names (a ``superseded_by`` naming one
not here: a file cut into parts), when it keeps waiting for that decision's import.
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
    two statements, when the survivor merged the copy as consolidation does: it is in the copy's
    product and reached from it by ``superseded_by`` within that product (consolidation chains the
    copies it merges). Returns the survivors of the copies it left waiting. Its time grows with the
    copies and the decisions above them, each read once (``_runs``).

    A chunk (``missing`` None) leaves the others waiting. ``merges_settle`` (``missing``: the decisions
    whose successor is not here) leaves waiting those whose chain ends, in their product, at such a
    decision, and drops the other ``merged_into`` — a link that would make deleting the survivor
    delete a decision it does not supersede — told in the warnings of the copy, when this import
    placed it (``new``; ``position``: id → index in ``results``), else of the survivor.
    """
    table = Decision._meta.db_table
    with connection.cursor() as cursor:
        # ``up``: the copies and the decisions above them, each in the product of the walk but the
        # last, each once however many copies lie below it. A walk per copy made n²/2 rows for a
        # chain of n copies, and checking each copy against them was cubic (n = 2,000: 11 s, 113 MB).
        cursor.execute(
            f"WITH RECURSIVE up(id, product) AS (SELECT id, product_id FROM {table}"
            " WHERE space_id = %s AND merged_into_pending = ANY(%s::uuid[]) "
            f"UNION SELECT d.superseded_by_id, up.product FROM up JOIN {table} d"
            " ON d.id = up.id AND d.product_id = up.product WHERE d.superseded_by_id IS NOT NULL) "
            "SELECT d.id, d.origin_id, d.product_id, d.superseded_by_id, d.merged_into_pending"
            f" FROM up JOIN {table} d ON d.id = up.id AND d.product_id = up.product",
            [space.pk, list(ready)],
        )
        rows = cursor.fetchall()
    product = {pk: product for pk, _, product, _, _ in rows}
    above = {pk: successor if product.get(successor) == product[pk] else None for pk, _, _, successor, _ in rows}
    runs = _runs(above)
    # Tops whose successor the document names but is not here (``merges_settle``): their copies wait.
    open_ends = {pk for pk, _, _, successor, _ in rows if successor is None} & set(missing or ())
    settled, waits = {}, {}
    for pk, origin, _, _, survivor in rows:
        if survivor not in ready:
            continue  # a decision above a copy, or a copy waiting for another survivor
        survivor_pk = ready[survivor]
        top, height = runs[pk]
        if survivor_pk in runs and runs[survivor_pk][0] == top and runs[survivor_pk][1] <= height:
            settled[pk] = survivor_pk
        elif missing is None or top in open_ends:
            waits[survivor] = survivor_pk
        else:
            settled[pk] = None
            if pk in new:
                results[position[pk]].warnings.append(f"{NOT_MERGED.format(survivor)} {NOT_A_MERGE}")
            elif survivor_pk in position:
                message = f"Decision {origin or pk} is not linked as merged into it (merged_into): {NOT_A_MERGE}"
                results[position[survivor_pk]].warnings.append(message)
    if settled:
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} AS d SET merged_into_pending = NULL, merged_into_id = v.survivor"
                " FROM unnest(%s::uuid[], %s::uuid[]) AS v(id, survivor) WHERE d.id = v.id",
                [list(settled), list(settled.values())],
            )
    return waits


def _runs(above: dict) -> dict:
    """``{id: (top, height)}`` for each decision of ``above`` (``{id: the decision above it in its
    product, or None}``): the last one reached going up, and how many steps below it. The decisions
    under one top are one path (a decision supersedes at most one), so of two with the same top the
    one of lower height is above the other. Each decision is visited once: a walk stops at one
    already placed. A cycle, which the import never closes (``_links``), has no top: its decisions
    are all at height 0 under one of them, each above the others, as a walk up from one reaches all."""
    runs: dict = {}
    for start in above:
        path, on_path, node = [], set(), start
        while node is not None and node not in runs and node not in on_path:
            path.append(node)
            on_path.add(node)
            node = above.get(node)
        if node in on_path:
            cycle = path.index(node)
            runs.update((member, (node, 0)) for member in path[cycle:])
            del path[cycle:]
        elif node is None:
            node = path.pop()
            runs[node] = (node, 0)
        top, height = runs[node]
        for member in reversed(path):
            height += 1
            runs[member] = (top, height)
    return runs
