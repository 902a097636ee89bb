"""``manage.py check`` warns when the local embedding provider's package is missing."""

from __future__ import annotations

import importlib.util

from apps.memory.checks import local_embeddings_check


def test_the_local_provider_without_its_package_is_a_warning(settings, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "sentence_transformers" else real(name, *a)
    )
    settings.EMBEDDINGS_PROVIDER = "local"
    assert [message.id for message in local_embeddings_check(None)] == ["memory.W001"]
    settings.EMBEDDINGS_PROVIDER = "openai"
    assert local_embeddings_check(None) == []


def test_the_local_provider_with_its_package_passes(settings, monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object())
    settings.EMBEDDINGS_PROVIDER = "local"
    assert local_embeddings_check(None) == []
