"""Writes of MCP sessions: register one on a product, end it with the product's handoff."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.db import transaction
from django.utils import timezone

from apps.decisions.models import Decision
from apps.products.selectors import product_find_for_update
from apps.products.services import product_ensure, product_state_write, product_touch
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.serializers import iso_utc, json_bytes

from .models import McpSession
from .selectors import session_get

METADATA_MAX_BYTES = 16 * 1024
_URL = URLValidator(schemes=["http", "https"])


def _check_url(url: str) -> None:
    try:
        _URL(url)
    except DjangoValidationError:
        raise errors.ValidationFailed.for_fields({"session_url": "Must be an http or https URL."}) from None


def _check_metadata(metadata: dict) -> None:
    if json_bytes(metadata) > METADATA_MAX_BYTES:
        raise errors.ValidationFailed.for_fields({"metadata": f"At most {METADATA_MAX_BYTES} bytes of JSON."})


@transaction.atomic
def session_register(
    *,
    space: Space,
    user,
    actor: str,
    product_name: str,
    session_url: str = "",
    agent_name: str = "",
    label: str = "",
    metadata: dict | None = None,
) -> McpSession:
    """Open a session on a product of ``space`` (created when missing, like any write naming it).

    ``session_url`` must be an http(s) URL when given; ``metadata`` is a JSON object of at most
    16 KiB (``json_bytes``: numbers as jsonb stores them). Strings are expected trimmed.
    """
    if session_url:
        _check_url(session_url)
    metadata = metadata or {}
    _check_metadata(metadata)
    product = product_ensure(space=space, name=product_name)
    session = McpSession.objects.create(
        space=space,
        product=product,
        user=user,
        actor=actor,
        session_url=session_url,
        agent_name=agent_name,
        label=label,
        metadata=metadata,
    )
    product_touch(product_id=product.id, at=session.started_at)
    if metadata:
        # jsonb gives numbers back written out (``1e300`` as 301 digits, an integer): answer the
        # metadata as stored, as every later read (``GET /api/v1/sessions``) serves it.
        session.refresh_from_db(fields=["metadata"])
    return session


@transaction.atomic
def session_end(
    *,
    space: Space,
    session_id,
    summary: str,
    ended_by: str = "",
    next_session_starts_here: str | None = None,
) -> McpSession:
    """End an open session: record the summary and write the product's handoff.

    The product state gets ``last_session_summary = summary`` and ``next_session_starts_here =
    next_session_starts_here`` when given (``""`` clears it), else the summary itself (one product
    write, one version bump). ``decisions_captured`` counts the decisions recorded for the
    session's product in this space while the session was open (``started_at`` ≤ created_at ≤ the
    end). The session row is locked, so two concurrent ends cannot both succeed: the second is
    CONFLICT, as is ending an ended session; another space's session is NOT_FOUND.
    """
    session = session_get(space=space, session_id=session_id, for_update=True)
    if not session.is_open:
        raise errors.Conflict("This session has already ended.", details={"ended_at": iso_utc(session.ended_at)})
    # The product's lock orders the ends of its sessions, and the clock is read under it, so the
    # session with the latest ``ended_at`` is the one whose summary and handoff the product keeps
    # (``session_of_last_summary``). Read before it, the end that reached the lock second wrote
    # last with the earlier ``ended_at``.
    product_find_for_update(space=space, name=session.product.name)
    now = timezone.now()
    handoff = summary if next_session_starts_here is None else next_session_starts_here
    product_state_write(
        space=space,
        name=session.product.name,
        changes={"last_session_summary": summary, "next_session_starts_here": handoff},
    )
    session.decisions_captured = Decision.objects.filter(
        space=space, product_id=session.product_id, created_at__gte=session.started_at, created_at__lte=now
    ).count()
    session.ended_at = now
    session.summary = summary
    session.ended_by = ended_by
    session.save(update_fields=["ended_at", "summary", "ended_by", "decisions_captured", "updated_at"])
    return session


def session_kernel_loaded(*, session: McpSession, client_type: str = "") -> None:
    """Note that the client loaded the Identity Kernel for this session (and which client it is).

    ``kernel_loaded_at`` is the latest load while the session is open; an ended session is left
    as it ended (a load after the end would put ``kernel_loaded_at`` after ``ended_at``). The
    condition is in the UPDATE itself, so a concurrent ``session_end`` (which locks the row) is
    waited for and then seen."""
    changes: dict = {"kernel_loaded_at": timezone.now()}
    if client_type:
        changes["client_type"] = client_type
    McpSession.objects.filter(pk=session.pk, ended_at__isnull=True).update(**changes)
