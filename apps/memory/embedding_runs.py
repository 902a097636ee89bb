"""Embedding runs: give a space's decisions and memories vectors of its provider's model.

``embeddings_compute_pending`` is what the embedding task, the sweep and consolidation's step 5
call; ``embeddings_pending_space_ids`` is the sweep's pick of spaces.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q

from apps.memory.embedding_pause import embed_unless_paused
from apps.memory.embeddings import provider_for_space
from apps.memory.models import EmbeddingSettings, Memory
from apps.scopes.models import Space
from synchronex.db.locks import space_key

logger = logging.getLogger(__name__)

EMBEDDING_LOCK_CLASS = 0x53584D45  # advisory-lock namespace of embedding runs ("SXME")
# Passes of one embedding run over its space: enough for the rows written while it runs, few
# enough that rows which never settle (or an endless stream of writes) cannot hold a worker.
EMBEDDING_PASSES_MAX = 10


@dataclass(frozen=True)
class EmbeddingTarget:
    """A kind of row that carries ``embedding``, ``embedding_model`` and ``embedding_dimensions``."""

    label: str
    model: type
    text_fields: tuple[str, ...]
    text: Callable[[object], str]


def _decision_text(row) -> str:
    return "\n".join(part for part in (row.decision, " ".join(row.tags), row.reasoning) if part)


def embedding_targets() -> list[EmbeddingTarget]:
    # Imported here: the decisions app builds on this one (its services enqueue our task).
    from apps.decisions.models import Decision

    return [
        EmbeddingTarget("decisions", Decision, ("decision", "tags", "reasoning"), _decision_text),
        EmbeddingTarget("memories", Memory, ("content",), lambda row: row.content),
    ]


def _pending(target: EmbeddingTarget, *, space, provider):
    """Rows without a vector of the provider's model (and size, once known)."""
    current = Q(embedding__isnull=False, embedding_model=provider.model)
    if provider.dimensions:
        current &= Q(embedding_dimensions=provider.dimensions)
    return target.model.objects.filter(space=space).exclude(current).only("id", *target.text_fields).order_by("id")


@contextmanager
def _space_embedding_lock(space):
    """A session-level advisory lock per space: one embedding run per space at a time.

    Not a transaction lock: each batch commits on its own, so a failure keeps the vectors
    already paid for. The lock dies with the connection if a worker does.
    """
    key = space_key(space.id)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [EMBEDDING_LOCK_CLASS, key])
        acquired = cursor.fetchone()[0]
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [EMBEDDING_LOCK_CLASS, key])


def _store_if_unchanged(target: EmbeddingTarget, row, vector: list[float], *, model: str) -> int:
    """Store ``vector`` on ``row`` only while the row still holds the text it was computed from
    (its text fields as read before the call); returns 1 if stored. A row changed meanwhile (a
    consolidation merge gives its survivor the duplicates' tags and reasoning) keeps waiting, and
    the next pass embeds its new text: stored, the old text's vector would count as current for
    good. The check is the UPDATE's own WHERE, so a change that commits while this statement
    waits for the row is seen too (PostgreSQL checks the row again after the wait)."""
    unchanged = {name: getattr(row, name) for name in target.text_fields}
    return target.model.objects.filter(pk=row.pk, **unchanged).update(
        embedding=vector, embedding_model=model, embedding_dimensions=len(vector)
    )


def _embedding_pass(*, space, provider, batch_size: int, counts: dict, on_batch=None) -> int:
    """Embed the space's pending decisions, then its memories; returns how many rows were embedded
    (rows whose text changed during the call are not: ``_store_if_unchanged``)."""
    embedded = 0
    for target in embedding_targets():
        last_id = None
        while True:
            # Keyset paging: each row is read once per pass, whatever the provider answers.
            rows = _pending(target, space=space, provider=provider)
            if last_id is not None:
                rows = rows.filter(id__gt=last_id)
            rows = list(rows[:batch_size])
            if not rows:
                break
            vectors = embed_unless_paused(provider, [target.text(row) for row in rows], query=False)
            with transaction.atomic():  # a caller's own count of the batch commits with its vectors
                stored = sum(
                    _store_if_unchanged(target, row, vector, model=provider.model)
                    for row, vector in zip(rows, vectors, strict=True)
                )
                if on_batch is not None and stored:
                    on_batch(stored)
            counts[target.label] += stored
            embedded += stored
            last_id = rows[-1].id
    return embedded


def _any_pending(*, space, provider) -> bool:
    return any(_pending(target, space=space, provider=provider).exists() for target in embedding_targets())


def embeddings_compute_pending(*, space, batch_size: int | None = None, on_batch=None) -> dict:
    """Give every decision and memory of ``space`` a vector of the space's current model.

    ``on_batch(count)``, if given, runs inside each stored batch's transaction, so a caller's own
    tally (a consolidation job's) commits with the vectors it counts, even if the run dies later.

    Policy for rows embedded by *another* model (or size): they are re-embedded, so that a space
    which changes provider converges on one model and every row stays findable by meaning;
    search compares only vectors whose model and dimensions match the query's. Returns
    ``{"provider", "model", "decisions", "memories", "busy"}`` (counts of rows embedded now);
    ``busy`` means another run holds the space and nothing was done. Raises
    ``EmbeddingUnavailable`` when the provider fails; batches embedded before that stay stored.
    A paused provider (apps.memory.embedding_pause) is not called: the error's ``retry_after``
    then says how long the pause lasts.

    One run per space at a time, and a caller that finds the space busy may simply leave it:
    the running one makes passes until a pass finds nothing (rows written meanwhile included),
    then looks once more after letting go of the space, for a row committed just as it did —
    whose own run found the space still busy. At most ``EMBEDDING_PASSES_MAX`` passes; rows
    still pending after them wait for the periodic sweep (``apps.memory.tasks.embeddings_sweep``).
    """
    batch_size = batch_size or settings.EMBEDDINGS_BATCH_SIZE
    provider = provider_for_space(space)
    counts = {"provider": None, "model": None, "decisions": 0, "memories": 0, "busy": False}
    if provider is None:
        return counts
    counts.update(provider=provider.name, model=provider.model)
    passes = 0
    while True:
        with _space_embedding_lock(space) as acquired:
            if not acquired:
                counts["busy"] = passes == 0  # after passes of its own, another run took over
                return counts
            while passes < EMBEDDING_PASSES_MAX:
                passes += 1
                if not _embedding_pass(
                    space=space, provider=provider, batch_size=batch_size, counts=counts, on_batch=on_batch
                ):
                    break
        if not _any_pending(space=space, provider=provider):
            return counts
        if passes >= EMBEDDING_PASSES_MAX:
            logger.warning(
                "embeddings: space %s still has pending rows after %d passes; left to the sweep", space.pk, passes
            )
            return counts


def embeddings_pending_space_ids(*, limit: int) -> list:
    """Ids of at most ``limit`` spaces (a random pick, so none starves) that have an embedding
    provider and rows without a vector: the periodic sweep queues a run for each.

    One query; rows with a vector of another model are not looked for (a run re-embeds them
    once anything else brings it to their space).
    """
    NONE = EmbeddingSettings.Provider.NONE
    enabled = ~Q(embedding_settings__provider=NONE)  # the deployment's provider, unless a space says none
    if settings.EMBEDDINGS_PROVIDER == NONE:
        enabled &= Q(embedding_settings__isnull=False)  # only spaces that name one of their own
    waiting = Q()
    for target in embedding_targets():
        waiting |= Exists(target.model.objects.filter(space=OuterRef("pk"), embedding__isnull=True))
    spaces = Space.objects.filter(enabled).filter(waiting).order_by("?")
    return list(spaces.values_list("id", flat=True)[:limit])
