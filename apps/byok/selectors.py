"""Reads of BYOK credentials, always narrowed to one space and never decrypting."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.scopes.models import Space

from .models import ByokCredential


def byok_credential_list(*, space: Space) -> QuerySet[ByokCredential]:
    """The credentials of ``space``, oldest first, without loading the encrypted column."""
    return ByokCredential.objects.filter(space=space).defer("secret").order_by("created_at", "id")
