"""Reads narrowed to one space: MCP sessions (another space's is NOT_FOUND) and superseded decisions."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db.models import Q, QuerySet, TextField, Value

from apps.decisions.models import Decision, LowerWords
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.rows import unprepared

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


def session_of_last_summary(*, product) -> McpSession | None:
    """The session that wrote the product's ``last_session_summary``: its most recently ended
    session, when that session's summary is the product's; else None. Other writers replace the
    summary too (an ingested ``session_summary``, a MIF restore), and their summary must not be
    told as that session's. Sessions end in the product's lock order (``session_end``), so the
    last ended is the last session to have written the summary."""
    last = McpSession.objects.filter(product=product, ended_at__isnull=False).order_by("-ended_at", "id").first()
    return last if last is not None and last.summary == product.last_session_summary else None


SUPERSEDED_CHECKED = 200


def decisions_superseded(*, space: Space, product=None, limit: int = SUPERSEDED_CHECKED):
    """The space's superseded decisions, most recently replaced first, with their successors.

    With ``product``: that product's, and those of other products that list it as affected.
    """
    qs = Decision.objects.filter(space=space, superseded_by__isnull=False)
    if product is not None:
        # The key is made as affects_keys' own are (by PostgreSQL), never by str.lower().
        key = LowerWords(Value([product.name], output_field=ArrayField(TextField())))
        qs = qs.filter(Q(product=product) | Q(affects_keys__contains=key))
    # Planned for this space, never prepared: a generic plan reads ``space_id = $1`` by the average
    # space, and for one of 10,000 superseded decisions joined each to every product of every
    # space (13 ms planned for the space, 98 ms prepared, growing with the table).
    with unprepared():
        return list(
            qs.select_related("product", "superseded_by")
            .only(
                "id",
                "decision",
                "product__name",
                "superseded_by__id",
                "superseded_by__decision",
                "superseded_by__created_at",
            )
            .order_by("-superseded_by__created_at", "id")[:limit]
        )
