"""Reads of MCP sessions, always narrowed to one space (another space's session is NOT_FOUND)."""

from __future__ import annotations

import uuid

from django.db.models import QuerySet

from apps.scopes.models import Space
from synchronex.api import errors

from .models import McpSession


def session_list(*, space: Space) -> QuerySet[McpSession]:
    """The sessions of ``space``, newest first, with their product's name in the same query."""
    return McpSession.objects.filter(space=space).select_related("product").order_by("-started_at", "id")


def session_get(*, space: Space, session_id, for_update: bool = False) -> McpSession:
    """A session of ``space``; unknown, malformed or foreign ids are NOT_FOUND."""
    try:
        pk = uuid.UUID(str(session_id))
    except ValueError:
        raise errors.NotFound("No such session in this scope.") from None
    qs = McpSession.objects.filter(space=space, pk=pk).select_related("product")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    found = qs.first()
    if found is None:
        raise errors.NotFound("No such session in this scope.")
    return found


def session_last_ended(*, product) -> McpSession | None:
    """The product's most recently ended session, or None."""
    return McpSession.objects.filter(product=product, ended_at__isnull=False).order_by("-ended_at", "id").first()
