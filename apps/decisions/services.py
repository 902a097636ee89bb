"""Writes of the Decision Index (SPEC §6)."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.products.models import ProductState
from apps.products.names import one_per_key
from apps.products.services import product_ensure, product_touch, products_lock
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.db.deadlocks import retry_deadlocks

from .merges import survivors_affected, survivors_recompute
from .models import AFFECTS_MAX, Decision
from .selectors import decision_lookup


def _supersede_target(*, space: Space, supersedes) -> Decision | None:
    """The decision to supersede, locked. Another space's id is NOT_FOUND, exactly like a
    missing one, so ids of other spaces cannot be probed."""
    if supersedes is None:
        return None
    try:
        target = decision_lookup(space=space, decision_id=supersedes).select_for_update().first()
    except errors.NotFound:
        target = None
    if target is None:
        raise errors.NotFound(
            "The decision named in 'supersedes' does not exist in this scope.",
            details={"fields": {"supersedes": ["Unknown decision id."]}},
        )
    if target.superseded_by_id is not None:
        raise errors.Conflict(
            "That decision is already superseded; supersede its successor instead.",
            details={"superseded_by": str(target.superseded_by_id)},
        )
    return target


def _with_replaced_product(affects: list[str], *, target: Decision | None, product: ProductState) -> list[str]:
    """``affects`` and, when ``target`` (the decision superseded) is another product's, that product
    too (its stored name, last), unless listed already (by its key, as the API dedupes them) or the
    list is full (``AFFECTS_MAX``). That product's views — search by product, its state's recent
    decisions, the kernel export, MCP search — show current decisions that affect it, and only
    current ones: without it, they lost the replaced decision and never showed its replacement."""
    if target is None or target.product_id == product.id or len(affects) >= AFFECTS_MAX:
        return affects
    name = ProductState.objects.values_list("name", flat=True).get(pk=target.product_id)
    return one_per_key([*affects, name])


def _enqueue_embedding(space: Space) -> None:
    # Imported lazily: embedding is optional, and only a configured provider needs the task.
    from apps.memory.tasks import embed_pending_on_commit

    embed_pending_on_commit(space=space)


@retry_deadlocks
def decision_create(
    *,
    space: Space,
    decision: str,
    product_name: str,
    reasoning: str = "",
    tags: list[str] | None = None,
    affects_products: list[str] | None = None,
    alternatives: list[str] | None = None,
    supersedes: uuid.UUID | None = None,
    decided_at: datetime | None = None,
    source: str = "api",
    locked_product: ProductState | None = None,
) -> Decision:
    """Record a decision; creates its product when missing and marks a superseded decision.

    Inputs are expected validated (the API serializer); the database constraints still hold
    the limits. ``supersedes`` must name a decision of the same space (else NOT_FOUND) that no
    other decision supersedes yet (else CONFLICT); the database then marks it ``superseded_by``.
    A decision of another product superseded adds that product to ``affects_products``
    (``_with_replaced_product``).
    ``locked_product`` is the product ``product_name`` names when the caller has already found it
    and locked its row (``product_touch``) in this transaction: a batch of ingested decisions
    then does not find and lock it again for each one.
    """
    product = locked_product
    if product is None:
        product = product_ensure(space=space, name=product_name)
        # The product's row first, then decisions: the order consolidation locks them in, so a
        # supersede waits for a running consolidation instead of closing a lock cycle with it.
        product_touch(product_id=product.id)
    target = _supersede_target(space=space, supersedes=supersedes)
    affects = _with_replaced_product(list(affects_products or []), target=target, product=product)
    # Only a superseding insert has a conflict to answer (below), so only it needs a savepoint
    # to answer from; any other failure rolls the whole write back.
    try:
        with transaction.atomic() if target is not None else nullcontext():
            row = Decision.objects.create(
                space=space,
                product=product,
                decision=decision,
                reasoning=reasoning,
                tags=list(tags or []),
                affects_products=affects,
                alternatives=list(alternatives or []),
                supersedes=target,
                decided_at=decided_at or timezone.now(),
                source=source,
            )
    except IntegrityError as exc:
        # Two requests superseding the same decision at once: the unique key lets one win.
        if target is not None and "supersedes" in str(exc):
            raise errors.Conflict("That decision was superseded by a concurrent request.") from None
        raise
    _enqueue_embedding(space)
    return row


def _with_copies(pks) -> set:
    """``pks`` and the decisions consolidation merged into them (``merged_into``), and theirs."""
    found = new = frozenset(pks)
    while new:
        new = set(Decision.objects.filter(merged_into__in=new).values_list("pk", flat=True)) - found
        found = found | new
    return found


def _delete_spliced(*, decisions) -> list:
    """Delete ``decisions`` (a query) and their merged copies, splicing their chains; returns the
    ids of ``decisions`` deleted (those deleted meanwhile, or whose product was not locked, stay).

    Where deleted decisions sat in a chain, their successor now supersedes the first decision
    below them that stays, which therefore stays superseded: a deleted link does not bring back
    a decision that was replaced. Without a successor (the chain's head was deleted), that
    decision is current again, and without one below, the successor supersedes nothing. A deleted
    copy's survivor that stays gives back what the merge took from that copy alone: its merged
    fields are computed again from its own values and the copies that stay (``merges``), and so
    are those of the survivor it was merged into in turn, if any.

    Locks: the product rows first (``products_lock``; those of the decisions linked to them too,
    whose links change, and of the survivors of deleted copies), then the decisions, and only then
    their links are read: a concurrent supersede holds its target's lock until it commits, so its
    new successor is found (and spliced) rather than left pointing at a deleted row. Consolidation
    merges on a product's rows while holding them, so the copies read after the lock are complete.
    """
    ids = decisions.values("pk")
    doomed = Decision.objects.filter(Q(pk__in=ids) | Q(merged_into__in=ids)).values("pk")
    survivors = Decision.objects.filter(pk__in=doomed, merged_into__isnull=False).values("merged_into")
    linked = Decision.objects.filter(
        Q(pk__in=doomed) | Q(supersedes__in=doomed) | Q(superseded_by__in=doomed) | Q(pk__in=survivors)
    )
    products = products_lock(product_ids=linked.values("product_id"))
    rows = Decision.objects.select_for_update().filter(pk__in=ids, product_id__in=products).order_by("id")
    deleted = list(rows.values_list("pk", flat=True))
    locked = Decision.objects.select_for_update().filter(pk__in=_with_copies(deleted)).order_by("id")
    links, merged_into = {}, set()
    for pk, older, newer, survivor in locked.values_list("pk", "supersedes_id", "superseded_by_id", "merged_into_id"):
        links[pk] = (older, newer)
        merged_into.add(survivor)
    # The survivors that stay of the copies deleted: what the merge took from those goes too.
    affected = survivors_affected(survivor_ids=merged_into - links.keys() - {None})
    spliced = []
    for pk, (older, newer) in links.items():
        if newer is None or newer in links:
            continue  # not the top of a deleted run, or nothing above it to splice
        while older in links and older != pk:
            older = links[older][0]
        if older is not None and older not in links and older != newer:
            spliced.append(Decision(pk=newer, supersedes_id=older))
    # Imported here: ingest's models and services import this app's.
    from apps.ingest.models import Signal
    from apps.ingest.services import deleted_signals_record

    # Their ingested signals go with them (cascade), under the product rows locked above (a
    # signal's product is its decision's): their external ids stay taken, as any deleted signal's.
    deleted_signals_record(signals=Signal.objects.filter(decision__in=list(links)))
    Decision.objects.filter(pk__in=list(links)).delete()
    # After the delete, which cleared the old links (one-to-one: the new ones need them gone).
    Decision.objects.bulk_update(spliced, ["supersedes"])
    for space_id in survivors_recompute(affected):
        _enqueue_embedding(Space(pk=space_id))
    return deleted


@retry_deadlocks
def decision_delete(*, space: Space, decision_id) -> None:
    """Delete a decision of ``space`` for real (NOT_FOUND for unknown or foreign ids), with the
    decisions consolidation merged into it as duplicates: its text must not come back as current
    from a copy.

    In a chain of supersedes, the decision it superseded stays superseded, now by the decision
    that superseded the deleted one; when none did (the deleted one was current), it is current
    again (``_delete_spliced``). The ingested ``decision`` signals that created them go too
    (``Signal.decision`` cascades): they hold their text and reasoning, which must not outlive
    them (in memory search, say). Their ``external_id``s stay taken, so resending such a signal
    is a duplicate and does not decide it again.
    """
    found = decision_lookup(space=space, decision_id=decision_id).values_list("pk", flat=True).first()
    if found is None or not _delete_spliced(decisions=Decision.objects.filter(space=space, pk=found)):
        # unknown here, or deleted by a concurrent request since the lookup
        raise errors.NotFound("No such decision in this scope.")


@retry_deadlocks
def decisions_delete(*, decisions) -> None:
    """Delete the ``decisions`` (a queryset, of any spaces; the admin's) as ``decision_delete``
    deletes one: with their merged copies and signals, their chains spliced (``_delete_spliced``).

    Consolidation does all its work on decisions and signals holding the space's product rows,
    which ``_delete_spliced`` locks first, so waiting for them is waiting for it; its own lock,
    which ``spaces_lock_for_delete`` takes, guards nothing this delete touches. A decision whose
    product was not locked (selected by a filter, and recorded since) is left alone.
    Run again when still a deadlock's victim; inside a caller's transaction (the admin's page)
    the caller's own retry reruns the whole of it.
    """
    _delete_spliced(decisions=decisions)
