"""Decisions, product states and the kernel layer back from ``vendor_extensions.synchronex``.

Each restore validates the record with the rules of its own API (the same serializers), then
writes it with its original id (as ``origin_id``) and timestamps, so a space restored from an
export exports the same memories again. Ids are global primary keys here, so a new row's own id
is derived from this space and the original id (``_placement``), whoever else holds that id:
keeping the original when it was free told an importer whether another space held it. The
export writes ``origin_id or id``, re-imports find a row by either, and API lookups by id fall
back to ``origin_id`` in the space.

Each function returns ``"imported"`` or ``"duplicate"`` and raises ``RestoreError`` with a
sentence for a record that cannot be restored (decisions are restored in chunks:
``restore_decisions``). They always write: a dry run calls them inside a transaction it rolls
back (``importers._restore_records`` says why).

A restored version is at most ``MAX_RESTORED_VERSION`` (1,000,000,000), far below the integer
column's 2**31 - 1: every later write adds one to it, and a row at the column's maximum could
never be written again (nor could the space's consolidation, which writes the kernel).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import F, Lookup, Q, Value
from django.db.models.functions import Coalesce, Greatest, NullIf
from django.utils import timezone
from rest_framework import serializers

from apps.identity.api.serializers import KernelSectionsSerializer, ProductSerializer
from apps.identity.layers import SECTIONS
from apps.identity.models import Kernel, KernelRevision
from apps.identity.services import block_key, kernel_update, sections_normalised
from apps.memory.mif.common import canonical_uuid, derived_id, parse_timestamp, space_kept
from apps.memory.mif.writer import describe
from apps.products.api.serializers import HANDOFF_MAX, ProductStateWriteSerializer
from apps.products.models import ProductState
from apps.products.names import clean_product_name
from apps.products.selectors import product_find
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.exceptions import to_service_error
from synchronex.api.serializers import StrictSerializer
from synchronex.text import nfc

IMPORTED, DUPLICATE = "imported", "duplicate"
MAX_RESTORED_VERSION = 1_000_000_000


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
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_RESTORED_VERSION:
        raise RestoreError(f"version: Must be an integer from 1 to {MAX_RESTORED_VERSION}.")
    return value


def _placement(*, space: Space, original: uuid.UUID, kind: str, attempt: int) -> tuple[uuid.UUID, uuid.UUID]:
    """``(primary key, origin_id)`` of a new row of ``space`` restored from ``original``.

    The key depends on this space and the original id only, never on whether another space
    holds that id: keeping the original when it is free would tell any importer whether a row of
    that id exists elsewhere (SPEC §1, existence must not leak). It is a UUIDv5 of both (the
    same on every import, as the rows restored before ``origin_id`` existed got). ``attempt`` 1
    comes only after that key was taken, which only a row that kept a document's id before this
    rule can do: it is random.
    """
    pk = derived_id(kind, str(space.id), str(original)) if attempt == 0 else uuid.uuid4()
    return pk, original


def ids_in_space(model, *, space: Space, originals, kind: str) -> dict[uuid.UUID, uuid.UUID]:
    """``{original: id}`` of the rows of ``space`` restored from these original ids (same id or
    ``origin_id``), in one query; an original no row answers to is left out."""
    # Rows restored before ``origin_id`` existed carry the id ``_placement`` derives, without
    # ``origin_id``: still found, so re-importing an old document adds nothing. The original id
    # itself is a row of this space exported and imported back (or one restored before the ids
    # stopped being kept).
    originals = set(originals)
    if not originals:
        return {}
    legacy = {derived_id(kind, str(space.id), str(original)): original for original in originals}
    rows = model.objects.filter(_AnyOf(F("pk"), [*originals, *legacy]) | _AnyOf(F("origin_id"), originals), space=space)
    found: dict = {}
    # In the model's ordering, so each original gets the row a lookup of it alone took first.
    for pk, origin_id in rows.values_list("pk", "origin_id"):
        for original in (pk if pk in originals else None, legacy.get(pk), origin_id):
            if original in originals:
                found.setdefault(original, pk)
    return found


class _AnyOf(Lookup):
    """``lhs = ANY(<ids>)``, the ids sent as one array parameter: an import asks for thousands,
    which as one parameter each (``__in``) cost more to send than to look up, and PostgreSQL takes
    65,535 at most. Still an index condition on ``lhs``, also as one arm of an OR."""

    lookup_name = "any_of"
    prepare_rhs = False

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::uuid[])", [*lhs_params, list(self.rhs)]


def _ids_in_space(model, *, space: Space, original: uuid.UUID, kind: str) -> uuid.UUID | None:
    """The id of the row of ``space`` restored from ``original`` (same id or ``origin_id``), if any."""
    return ids_in_space(model, space=space, originals=[original], kind=kind).get(original)


# -- product states --------------------------------------------------------------------------------
# A product with no state of its own: still at its first version, every state field at the
# default a new product starts with, and not restored from a document (no ``origin_id``). A
# decision, a signal or an import naming a product that was missing makes one of these
# (``product_ensure``); so does a state write that set only defaults. Every state write that
# changes something adds one to the version, so a row matching this was never written.
BARE_STATE = {
    "status": ProductState.Status.ACTIVE,
    "what_works": [],
    "what_is_blocked": [],
    "open_questions": [],
    "next_session_starts_here": "",
    "last_session_summary": "",
}
NEVER_WRITTEN = Q(version=1, origin_id__isnull=True, **BARE_STATE)


class KernelEntrySerializer(StrictSerializer):
    """A product state's copy of its kernel entry's summary and URL, checked by the entry's own
    fields (at most 500 characters; an http(s) URL of at most 2,000): consolidation writes them
    back into the kernel, so they must be what ``PUT /memory/identity`` accepts."""

    kernel_summary = ProductSerializer._declared_fields["summary"]
    kernel_url = ProductSerializer._declared_fields["url"]


def _kernel_entry(data: dict) -> dict:
    """The record's ``kernel_summary`` and ``kernel_url`` (null: none), only those it carries: an
    export made before they existed has neither."""
    given = {key: data[key] for key in KernelEntrySerializer().fields if key in data}
    entry = _check(KernelEntrySerializer(data=given))
    return {key: value or "" for key, value in entry.items()}


def _session_summary(data: dict) -> str:
    """The record's ``last_session_summary`` as every other writer of it stores one (MCP
    ``end_session``, an ingested ``session_summary``): NFC, trimmed, at most ``HANDOFF_MAX``
    characters; a longer one is the record's error, never cut."""
    summary = data.get("last_session_summary")
    if summary is None:
        return ""
    if not isinstance(summary, str) or len(summary := nfc(summary).strip()) > HANDOFF_MAX:
        raise RestoreError(f"last_session_summary: Must be text of at most {HANDOFF_MAX:,} characters.")
    return summary


def product_restore(*, space: Space, data: dict) -> str:
    """A product state with its lists, handoff, version and timestamps, and the summary and URL
    of its kernel entry (``kernel_summary``, ``kernel_url``).

    A product of the same id in the space is a duplicate. So is a product of the same name,
    unless it has no state of its own (``NEVER_WRITTEN``: version 1, status ``active``, empty
    lists, handoff and summary, no ``origin_id``), as the decisions of a ``types=decision`` or
    ``since=`` import leave behind: the record fills that product, which keeps its own id and
    takes the record's id as ``origin_id``, its name, state, version and timestamps, and its
    kernel entry's summary and URL where it has none of its own (consolidation keeps the space's
    own kernel's there). Its version is the record's, but one above its own at least when the
    record's name or state is not the bare product's. The space's own state is never overwritten:
    a state write that lands first makes the fill a duplicate. A product another request creates
    by its name while the record is stored is treated as one found before: filled when bare.
    """
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
    summary = _session_summary(data)
    entry = _kernel_entry(data)
    now = timezone.now()
    version = _version(data)
    created_at = _moment(data, "created_at", now)
    updated_at = _moment(data, "updated_at", now)
    last_activity_at = _moment(data, "last_activity_at", updated_at)
    if _ids_in_space(ProductState, space=space, original=original, kind="product"):
        return DUPLICATE
    existing = product_find(space=space, name=name)
    for attempt in range(2):
        if existing is not None:
            break
        pk, origin_id = _placement(space=space, original=original, kind="product", attempt=attempt)
        try:
            with transaction.atomic():
                ProductState.objects.create(
                    id=pk,
                    origin_id=origin_id,
                    space=space,
                    name=name,
                    version=version,
                    last_activity_at=last_activity_at,
                    **state,
                    **entry,
                )
                ProductState.objects.filter(pk=pk).update(
                    created_at=created_at, updated_at=updated_at, last_session_summary=summary
                )
                space_kept(space.pk)
            return IMPORTED
        except IntegrityError:
            # A concurrent import restored the same original id first: a duplicate.
            if _ids_in_space(ProductState, space=space, original=original, kind="product"):
                return DUPLICATE
            # A concurrent request created the product by its name first (a decision naming it
            # makes it bare): it is filled below, as one found above would have been; a
            # duplicate only if it holds a state of its own. Else a row of another space holds
            # the derived id: once more, with a random one.
            existing = product_find(space=space, name=name)
    if existing is None:
        raise RestoreError("The product could not be stored (its id is taken).")
    fields = {**state, "name": name, "last_session_summary": summary}
    # A state the bare product did not hold is a change: a new version even when the record's
    # is the product's own (1), since an If-Match read from the bare one must not match the
    # filled one (SPEC §1: no lost update). The bare state again keeps the record's version.
    changed = name != existing.name or any(fields.get(key, bare) != bare for key, bare in BARE_STATE.items())
    fields["version"] = Greatest(Value(version), F("version") + 1) if changed else version
    moments = {
        "created_at": created_at,
        "updated_at": updated_at,
        "last_activity_at": last_activity_at,
        "stored_at": now,  # written here now, whatever the record's own timestamps say
    }
    kept = {key: Coalesce(NullIf(F(key), Value("")), Value(value)) for key, value in entry.items()}
    return _product_fill(product=existing, original=original, fields=fields | moments | kept)


def _product_fill(*, product: ProductState, original: uuid.UUID, fields: dict) -> str:
    """IMPORTED when ``product`` had no state of its own and now holds the record's, else DUPLICATE.

    One conditional UPDATE: a state write committed meanwhile makes the row fail the condition
    (PostgreSQL checks it again on the row it waited for), so nothing the user wrote is replaced.
    """
    try:
        with transaction.atomic():
            filled = ProductState.objects.filter(NEVER_WRITTEN, pk=product.pk).update(origin_id=original, **fields)
            space_kept(product.space_id)  # a product deleted with its space fills nothing
    except IntegrityError:
        return DUPLICATE  # a concurrent import restored a product from the same original id first
    return IMPORTED if filled else DUPLICATE


# -- the kernel layer ------------------------------------------------------------------------------
def kernel_restore(*, space: Space, data: dict, actor: str, actor_user=None) -> str:
    """The space's kernel layer from the record, when the space has none yet.

    The same kernel already in place is a duplicate, and so is the layer this record restored,
    changed since (found by its id); a different kernel already in place is not overwritten
    (RestoreError). A layer cleared of every section takes the record again. A new layer gets an
    id of this space (``_placement``) and keeps the record's id as ``origin_id``, its version and
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
        for attempt in range(2):
            if current is not None:
                break
            # Race-safe: a concurrent restore's INSERT makes this one wait, then do nothing; the
            # locking read below then sees the winner's committed kernel. When nothing was
            # inserted and no kernel is here, a row of another space holds the derived id:
            # the second attempt takes a random one.
            pk, origin_id = _placement(space=space, original=original, kind="kernel", attempt=attempt)
            Kernel.objects.bulk_create([Kernel(id=pk, origin_id=origin_id, space=space)], ignore_conflicts=True)
            current = Kernel.objects.select_for_update().filter(space=space).first()
        if current is None:
            raise RestoreError("The kernel could not be stored (its id is taken).")
        if current is not None and any(current.sections().values()):
            # Compared as stored (trimmed, duplicates dropped), not as the record spells it.
            if current.sections() == sections_normalised(sections):
                return DUPLICATE
            # The layer this very record restored, changed since (consolidation refreshes its
            # products): the same document imported again (a retry, or two imports at once) is a
            # duplicate by id, as a product state's or a decision's record is.
            if _ids_in_space(Kernel, space=space, original=original, kind="kernel") == current.pk:
                return DUPLICATE
            raise RestoreError(
                "This scope already has an Identity Kernel; it was not replaced. "
                "Clear it (PUT /memory/identity) and import again to restore this one."
            )
        fresh = current.version == 0
        kernel = kernel_update(space=space, changes=dict(sections), actor=actor, actor_user=actor_user)
        if fresh:
            # A new layer takes the record's history markers: version (its ETag) and timestamps.
            KernelRevision.objects.filter(kernel=kernel, version=kernel.version).update(version=version)
            Kernel.objects.filter(pk=kernel.pk).update(
                # An empty layer made before the import keeps its own id and remembers the record's.
                origin_id=kernel.origin_id or (original if kernel.pk != original else None),
                version=version,
                created_at=created_at,
                updated_at=updated_at,
                stored_at=now,  # written here now, whatever the record's own timestamps say
                block_key=block_key(personal_version=version),
            )
        space_kept(space.pk)
    return IMPORTED
