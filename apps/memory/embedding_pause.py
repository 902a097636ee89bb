"""Leaving an embeddings provider alone while it is down, hangs or asks to slow down.

Every decision search (REST, MCP ``search_decisions``, the kernel export) embeds its query before
ranking. A provider that hung made each of them wait ``EMBEDDINGS_TIMEOUT_SECONDS`` before falling
back to keywords, holding a web worker every time: one slow provider slowed the whole API. And a
provider answering 429 with ``Retry-After`` was called again by every write's embedding task on
that task's own backoff. So a pause, kept in the shared cache where every web and worker process
sees it:

- a query whose call finds the provider down (``EmbeddingUnavailable.down``: a timeout, a
  connection error, 5xx or 429) pauses it for its ``Retry-After`` when it sent one, else for
  ``EMBEDDINGS_PAUSE_SECONDS`` (0: no pause). Searches during the pause rank by keywords at once
  (``semantic: false``) without calling it; the first one after it tries again.
- the embedding task pauses it only when it sent a ``Retry-After``: the provider asked, for every
  caller. One task failure without it keeps the task's own backoff (5 s) rather than holding every
  search and write off for the whole pause.
- a paused provider is not called by the embedding task either: it gets ``EmbeddingUnavailable``
  with ``retry_after`` set to the rest of the pause, and waits that out (``apps.memory.tasks``).

A pause covers one provider: its server, model and key (``pause_identity``), kept only as an HMAC
under ``SECRET_KEY``, so a space's own BYOK key is paused apart from the deployment's and the key
never reaches the cache. A provider without ``pause_identity`` (``local``, in this process) is
never paused.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import time

from django.conf import settings
from django.core.cache import cache
from django.db import DatabaseError

from apps.memory.embeddings import RETRY_AFTER_MAX_SECONDS, EmbeddingProvider, EmbeddingUnavailable

__all__ = ["RETRY_AFTER_MAX_SECONDS", "embed_unless_paused", "pause", "pause_key", "remaining"]

logger = logging.getLogger(__name__)

KEY_PREFIX = "embeddings:pause:"


def pause_key(provider: EmbeddingProvider) -> str | None:
    """The cache key of ``provider``'s pause; None for a provider that is never paused."""
    identity = getattr(provider, "pause_identity", None)
    if identity is None:
        return None
    digest = hmac.new(settings.SECRET_KEY.encode(), identity().encode(), hashlib.sha256).hexdigest()
    return KEY_PREFIX + digest


def _cached(operation, default):
    """The cache's answer, or ``default`` when it fails: a pause only saves waiting, so a cache that
    is down must not fail a search or a task with it (with Redis down, requests already answer 503
    from their quota). The embedded cache is the database: its errors are the database's, raised
    as such (swallowed, one would also leave a transaction unusable)."""
    try:
        return operation()
    except DatabaseError:
        raise
    except Exception:
        logger.warning("embeddings: the cache is unavailable; provider pauses are not applied", exc_info=True)
        return default


def remaining(provider: EmbeddingProvider) -> float:
    """Seconds ``provider`` stays paused; 0 when it is not."""
    key = pause_key(provider)
    if key is None:
        return 0.0
    until = _cached(lambda: cache.get(key), None)
    return max(0.0, until - time.time()) if isinstance(until, float) else 0.0


def pause(provider: EmbeddingProvider, seconds: float) -> None:
    """Leave ``provider`` alone for ``seconds``, in every process (nothing for 0)."""
    key = pause_key(provider)
    if key is None or seconds <= 0:
        return
    until = time.time() + seconds
    _cached(lambda: cache.set(key, until, timeout=math.ceil(seconds)), None)
    logger.warning("embeddings: %r paused for %.0f s", provider, seconds)


def embed_unless_paused(provider: EmbeddingProvider, texts: list[str], *, query: bool) -> list[list[float]]:
    """``provider.embed(texts)``, unless the provider is paused: then ``EmbeddingUnavailable``
    (``retry_after``: the rest of the pause) without calling it. A failure pauses it as the module
    says: ``query`` for a search's call, else the embedding task's."""
    left = remaining(provider)
    if left > 0:
        raise EmbeddingUnavailable(
            f"The embedding server is left alone for {left:.0f} s more after failing.", down=True, retry_after=left
        )
    try:
        return provider.embed(texts)
    except EmbeddingUnavailable as exc:
        if exc.down:
            if exc.retry_after is not None:
                pause(provider, exc.retry_after)
            elif query:
                pause(provider, settings.EMBEDDINGS_PAUSE_SECONDS)
        raise
