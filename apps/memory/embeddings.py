"""Embedding providers (SPEC §6): ``none`` (default), ``openai`` (any OpenAI-compatible
``/v1/embeddings``), ``local`` (sentence-transformers, optional requirements file).

Contract used by search and by the embedding task:

- ``provider_for_space(space)`` returns an ``EmbeddingProvider`` or ``None`` (keyword-only).
- ``provider.model`` and ``provider.dimensions`` are stored next to every vector; a vector of
  another model or size is never compared.
- ``provider.embed(texts)`` returns one list of floats per text, or raises ``EmbeddingUnavailable``.
"""

from __future__ import annotations

from typing import Protocol


class EmbeddingUnavailable(Exception):
    """The provider could not produce vectors now (network, quota, bad key)."""


class EmbeddingProvider(Protocol):
    name: str
    model: str
    dimensions: int

    def embed(self, texts: list[str]) -> list[list[float]]: ...


def provider_for_space(space) -> EmbeddingProvider | None:
    """The provider configured for ``space`` (deployment setting, overridable per space)."""
    return None
