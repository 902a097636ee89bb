"""Decisions, product states and the kernel layer back from ``vendor_extensions.synchronex``.

Each restore validates the record with the rules of its own API (the same serializers), then
writes it with its original id and timestamps, so a space restored from an export exports the
same memories again. Ids are global primary keys here: when another space holds the id (the
export's source space still exists), the row gets a UUIDv5 derived from the space and the
original id instead — stable, so a second import still finds it and changes nothing.

Each function returns ``"imported"`` or ``"duplicate"`` and raises ``RestoreError`` with a
sentence for a record that cannot be restored; nothing is written with ``dry_run``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework import serializers

from apps.decisions.api.serializers import DecisionCreateSerializer
from apps.decisions.models import Decision
from apps.identity.api.serializers import KernelSectionsSerializer
from apps.identity.layers import SECTIONS
from apps.identity.models import Kernel, KernelRevision
from apps.identity.services import block_key, kernel_update
from apps.memory.mif.common import canonical_uuid, derived_id, parse_timestamp
from apps.memory.mif.writer import describe
from apps.products.api.serializers import ProductStateWriteSerializer
from apps.products.models import ProductState
from apps.products.names import clean_product_name
from apps.products.selectors import product_find
from apps.products.services import product_ensure
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.exceptions import to_service_error

IMPORTED, DUPLICATE = "imported", "duplicate"
SOURCE_MAX = 32
SUMMARY_MAX = 100_000


class RestoreError(Exception):
    """A record that cannot be restored, with the reason."""


def _check(serializer: serializers.Serializer) -> dict:
    if not serializer.is_valid():
        raise RestoreError(describe(to_service_error(serializers.ValidationError(serializer.errors))))
    return serializer.validated_data


def _uuid(data: dict, key: str = "id") -> uuid.UUID:
    value = canonical_uuid(data.get(key))
    if value is None:
        raise RestoreError(f"{key}: Must be a UUID.")
    return uuid.UUID(value)


def _moment(data: dict, key: str, default: datetime) -> datetime:
    value = data.get(key)
    if value is None:
        return default
    moment = parse_timestamp(value)
    if moment is None:
        raise RestoreError(f"{key}: Use an ISO 8601 date-time.")
    return moment


def _version(data: dict) -> int:
    value = data.get("version", 1)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RestoreError("version: Must be an integer of at least 1.")
    return value


def _free_id(model, *, space: Space, original: uuid.UUID, kind: str) -> uuid.UUID:
    """``original`` unless another space's row has it; then the id derived for this space."""
    if model.objects.filter(pk=original).exclude(space=space).exists():
        return derived_id(kind, str(space.id), str(original))
    return original


def _ids_in_space(model, *, space: Space, original: uuid.UUID, kind: str) -> uuid.UUID | None:
    """The id under which ``original`` already lives in ``space`` (as itself or derived), if any."""
    candidates = [original, derived_id(kind, str(space.id), str(original))]
    return model.objects.filter(space=space, pk__in=candidates).values_list("pk", flat=True).first()


# -- product states --------------------------------------------------------------------------------
def product_restore(*, space: Space, data: dict, dry_run: bool) -> str:
    """A product state with its lists, handoff, version and timestamps (a product of the same
    id or name in the space is a duplicate: the space's own state is never overwritten)."""
    original = _uuid(data)
    try:
        name = clean_product_name(data.get("name"))
    except errors.ValidationFailed as exc:
        raise RestoreError(describe(exc)) from None
    state = _check(
        ProductStateWriteSerializer(
            data={key: data[key] for key in ProductStateWriteSerializer().fields if key in data}
        )
    )
    summary = data.get("last_session_summary") or ""
    if not isinstance(summary, str) or len(summary) > SUMMARY_MAX:
        raise RestoreError(f"last_session_summary: Must be text of at most {SUMMARY_MAX} characters.")
    now = timezone.now()
    version = _version(data)
    created_at = _moment(data, "created_at", now)
    updated_at = _moment(data, "updated_at", now)
    last_activity_at = _moment(data, "last_activity_at", updated_at)
    if _ids_in_space(ProductState, space=space, original=original, kind="product") or product_find(
        space=space, name=name
    ):
        return DUPLICATE
    if dry_run:
        return IMPORTED
    pk = _free_id(ProductState, space=space, original=original, kind="product")
    try:
        with transaction.atomic():
            ProductState.objects.create(
                id=pk, space=space, name=name, version=version, last_activity_at=last_activity_at, **state
            )
            ProductState.objects.filter(pk=pk).update(
                created_at=created_at, updated_at=updated_at, last_session_summary=summary
            )
    except IntegrityError:
        # A concurrent import created the product (same name or id) first.
        if product_find(space=space, name=name) is None:
            raise RestoreError("The product could not be stored (its id is taken).") from None
        return DUPLICATE
    return IMPORTED


# -- decisions -------------------------------------------------------------------------------------
DECISION_FIELDS = ("decision", "product_name", "reasoning", "tags", "affects_products", "alternatives", "decided_at")


@dataclass
class DecisionRecord:
    """A decision validated for restore: its original id, target of ``supersedes``, fields."""

    original: uuid.UUID
    supersedes: uuid.UUID | None
    fields: dict
    created_at: datetime
    source: str


def decision_check(data: dict) -> DecisionRecord:
    """Validate a decision record (the API's rules); raises RestoreError."""
    original = _uuid(data)
    supersedes = _uuid(data, "supersedes") if data.get("supersedes") is not None else None
    fields = _check(DecisionCreateSerializer(data={key: data[key] for key in DECISION_FIELDS if key in data}))
    source = data.get("source") or "mif"
    if not isinstance(source, str) or len(source) > SOURCE_MAX:
        raise RestoreError(f"source: Must be text of at most {SOURCE_MAX} characters.")
    now = timezone.now()
    return DecisionRecord(original, supersedes, fields, _moment(data, "created_at", now), source)


def decision_existing(*, space: Space, original: uuid.UUID) -> uuid.UUID | None:
    """The id of the space's decision restored from (or identical to) ``original``, if any."""
    return _ids_in_space(Decision, space=space, original=original, kind="decision")


def decision_restore(*, space: Space, record: DecisionRecord, supersedes_id: uuid.UUID | None, dry_run: bool) -> str:
    """Store one validated decision (its product is created when missing).

    ``supersedes_id`` is the id the superseded decision has in this space (None: not here).
    """
    if decision_existing(space=space, original=record.original):
        return DUPLICATE
    if dry_run:
        return IMPORTED
    pk = _free_id(Decision, space=space, original=record.original, kind="decision")
    fields = dict(record.fields)
    product_name = fields.pop("product_name")
    try:
        with transaction.atomic():
            Decision.objects.create(
                id=pk,
                space=space,
                product=product_ensure(space=space, name=product_name),
                supersedes_id=supersedes_id,
                source=record.source,
                decided_at=fields.pop("decided_at", None) or record.created_at,
                **fields,
            )
            Decision.objects.filter(pk=pk).update(created_at=record.created_at)
    except IntegrityError as exc:
        if decision_existing(space=space, original=record.original):
            return DUPLICATE  # a concurrent import stored it first
        if supersedes_id is not None and "supersedes" in str(exc):
            raise RestoreError("The decision it supersedes is already superseded by another decision.") from None
        raise
    return IMPORTED


# -- the kernel layer ------------------------------------------------------------------------------
def kernel_restore(*, space: Space, data: dict, dry_run: bool, actor: str, actor_user=None) -> str:
    """The space's kernel layer from the record, when the space has none yet.

    The same kernel already in place is a duplicate; a different kernel already in place is
    not overwritten (RestoreError). A new layer keeps the record's id (when free), version and
    timestamps; the write goes through ``kernel_update`` (normalised, rendered, one revision).
    """
    original = _uuid(data)
    sections = _check(KernelSectionsSerializer(data={name: data.get(name) for name in SECTIONS}))
    if not any(sections.values()):
        raise RestoreError("The kernel record has no section set.")
    version = _version(data)
    now = timezone.now()
    created_at = _moment(data, "created_at", now)
    updated_at = _moment(data, "updated_at", now)
    with transaction.atomic():
        current = Kernel.objects.select_for_update().filter(space=space).first()
        if current is None and not dry_run:
            # Race-safe: a concurrent restore's INSERT makes this one wait, then do nothing; the
            # locking read below then sees the winner's committed kernel.
            pk = _free_id(Kernel, space=space, original=original, kind="kernel")
            Kernel.objects.bulk_create([Kernel(id=pk, space=space)], ignore_conflicts=True)
            current = Kernel.objects.select_for_update().filter(space=space).first()
            if current is None:
                raise RestoreError("The kernel could not be stored (its id is taken).")
        if current is not None and any(current.sections().values()):
            if current.sections() == {name: data.get(name) for name in SECTIONS}:
                return DUPLICATE
            raise RestoreError(
                "This scope already has an Identity Kernel; it was not replaced. "
                "Clear it (PUT /memory/identity) and import again to restore this one."
            )
        if dry_run:
            return IMPORTED
        fresh = current.version == 0
        kernel = kernel_update(space=space, changes=dict(sections), actor=actor, actor_user=actor_user)
        if fresh:
            # A new layer takes the record's history markers: version (its ETag) and timestamps.
            KernelRevision.objects.filter(kernel=kernel, version=kernel.version).update(version=version)
            Kernel.objects.filter(pk=kernel.pk).update(
                version=version,
                created_at=created_at,
                updated_at=updated_at,
                block_key=block_key(personal_version=version),
            )
    return IMPORTED
