"""Writes of the Decision Index (SPEC §6)."""

from __future__ import annotations

import uuid
from contextlib import nullcontext
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.products.models import ProductState
from apps.products.services import product_ensure, product_touch, products_lock
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.db.deadlocks import retry_deadlocks

from .models import Decision
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
                affects_products=list(affects_products or []),
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


@retry_deadlocks
def decision_delete(*, space: Space, decision_id) -> None:
    """Delete a decision of ``space`` for real (NOT_FOUND for unknown or foreign ids).

    A decision it superseded becomes current again (its ``superseded_by`` is cleared); a
    decision that superseded it stays, with ``supersedes`` cleared. The ingested ``decision``
    signals that created it go too (``Signal.decision`` cascades): they hold its text and
    reasoning, which must not outlive it (in memory search, say).

    The decision is locked before its referrers are read: a concurrent supersede holds that lock
    until it commits, so its new successor is found (and unlinked) rather than left pointing at
    a deleted row. Its product's row is locked before it, as every decision writer does.
    """
    found = decision_lookup(space=space, decision_id=decision_id).values_list("pk", "product_id").first()
    if found is not None:
        pk, product_id = found
        products_lock(product_ids=[product_id])
        found = Decision.objects.select_for_update().filter(space=space, pk=pk).values_list("pk", flat=True).first()
    if found is None:  # unknown here, or deleted by a concurrent request since the lookup
        raise errors.NotFound("No such decision in this scope.")
    Decision.objects.filter(pk=found).delete()


@retry_deadlocks
def decisions_delete(*, decisions) -> None:
    """Delete the ``decisions`` (a queryset, of any spaces; the admin's) as ``decision_delete``
    deletes one: a decision they superseded is current again, a successor stays with
    ``supersedes`` cleared (Django's ``SET_NULL`` on both links; the trigger of migration 0002
    keeps them mirrored), and their ``decision`` signals go with them.

    Locks as ``decision_delete`` takes them: the product rows first (``products_lock``; those of
    the decisions linked to them too, whose links the delete clears), then the decisions, before
    their referrers are read. Consolidation does all its work on decisions and signals holding
    the space's product rows, so waiting for them is waiting for it; its own lock, which
    ``spaces_lock_for_delete`` takes, guards nothing this delete touches. A decision whose
    product was not locked (selected by a filter, and recorded since) is left alone.
    Run again when still a deadlock's victim; inside a caller's transaction (the admin's page)
    the caller's own retry reruns the whole of it.
    """
    ids = decisions.values("pk")
    linked = Decision.objects.filter(Q(pk__in=ids) | Q(supersedes__in=ids) | Q(superseded_by__in=ids))
    products = products_lock(product_ids=linked.values("product_id"))
    rows = Decision.objects.select_for_update().filter(pk__in=ids, product_id__in=products).order_by("id")
    Decision.objects.filter(pk__in=list(rows.values_list("pk", flat=True))).delete()
