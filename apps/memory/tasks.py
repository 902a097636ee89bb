"""Celery tasks of the memory app: thin (ids in, a service call, the retry policy here)."""

from __future__ import annotations

from celery import shared_task
from django.db import transaction

from apps.memory.embeddings import EmbeddingUnavailable, embedding_config_for_space
from apps.memory.services import embeddings_compute_pending
from apps.scopes.models import Space

BUSY_RETRY_SECONDS = 30


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(EmbeddingUnavailable,),
    retry_backoff=5,  # 5 s, 10 s, 20 s … (jittered) while the provider is unavailable
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=6,
)
def embed_pending(self, space_id: str) -> dict:
    """Fill missing vectors of one space's decisions and memories (see embeddings_compute_pending)."""
    space = Space.objects.filter(pk=space_id).first()
    if space is None:
        return {"space": space_id, "deleted": True}
    counts = embeddings_compute_pending(space=space)
    if counts["busy"]:
        # Another run holds the space; run again after it, for rows it may not have seen.
        raise self.retry(countdown=BUSY_RETRY_SECONDS)
    return {"space": space_id, **counts}


def embed_pending_on_commit(*, space) -> None:
    """Enqueue ``embed_pending`` for ``space`` once the current transaction commits, if the
    space has an embedding provider at all (writers call this after storing text)."""
    if embedding_config_for_space(space).provider == "none":
        return
    space_id = str(space.id)
    transaction.on_commit(lambda: embed_pending.delay(space_id=space_id))
