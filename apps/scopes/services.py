"""Writes for spaces."""

from __future__ import annotations

from django.db import IntegrityError, transaction

from apps.scopes.models import Space


def space_ensure_personal(*, user) -> Space:
    """Return the user's personal space, creating it on first need (race-safe)."""
    space = Space.objects.filter(owner=user, kind=Space.Kind.PERSONAL).first()
    if space is not None:
        return space
    try:
        with transaction.atomic():
            return Space.objects.create(owner=user, kind=Space.Kind.PERSONAL, name=user.email)
    except IntegrityError:
        return Space.objects.get(owner=user, kind=Space.Kind.PERSONAL)
