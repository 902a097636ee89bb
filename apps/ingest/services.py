"""Ingesting project signals (SPEC §9).

A request's signals are stored in one transaction: if any of them cannot be stored (a bad
``supersedes`` id of a decision, say), none is. ``decision`` signals create their decision and
``ai_usage`` signals their cost event in that same transaction; every other signal waits,
``pending``, for consolidation (``apps.ingest.rules``).

``external_id`` is unique per product in the database: the insert skips a repeat
(``ON CONFLICT DO NOTHING``), so two concurrent requests carrying the same id store it once —
the second waits for the first to commit and then counts it as a duplicate. A deleted signal's
id stays taken (``DeletedSignal``), also when it went with its decision: what the signal did (a
cost, a decision, or that decision's delete) must not be done again by a resend.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.utils import timezone

from apps.costs.models import CostEvent
from apps.costs.services import cost_event_build
from apps.decisions.services import decision_create
from apps.products.models import ProductState
from apps.products.names import clean_product_name, normalise_product_name, product_name_keys
from apps.products.selectors import product_by_id, product_find
from apps.products.services import product_ensure, product_touch, products_lock
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.db.deadlocks import retry_deadlocks

from .models import DeletedSignal, Signal

# Applied as soon as they arrive; the other types wait for consolidation.
IMMEDIATE_TYPES = ("decision", "ai_usage")


@dataclass(frozen=True)
class IngestResult:
    product: ProductState
    signals: list[dict]  # {id, type, status} per signal sent, in order
    accepted: int
    duplicates: int


def ingest_product_resolve(*, space: Space, project_id: str) -> ProductState:
    """The product ``project_id`` names in ``space``: a product id, or a name (created when missing).

    A UUID that is neither the id nor the name of a product of the space is NOT_FOUND (ids are
    never created, so no product is created with a UUID for its name); an impossible name is a
    VALIDATION_ERROR on ``project_id``. The id is read from the value trimmed as names are (a BOM
    or an LRM at its ends too), so an id is never taken for a new product's name.
    """
    try:
        pk = uuid.UUID(normalise_product_name(project_id))
    except ValueError:
        pk = None
    if pk is not None:
        product = product_by_id(space=space, product_id=pk) or product_find(space=space, name=project_id)
        if product is None:
            raise errors.NotFound("No product with that id in this scope.")
        return product
    return product_ensure(space=space, name=clean_product_name(project_id, field="project_id"))


def _refield(exc: errors.ServiceError, prefix: str) -> errors.ServiceError:
    """The same error with its field names prefixed by the signal's path (``signals[2].data.``)."""
    details = dict(exc.details or {})
    fields = details.get("fields") or {}
    details["fields"] = {f"{prefix}{name}": messages for name, messages in fields.items()}
    return type(exc)(exc.message, details=details)


def _affects_one_per_key(signals: list[dict]) -> list[list[str]]:
    """Each signal's ``affects_products`` without a product named again in another spelling (the
    first kept, as ``one_per_key`` keeps it for a decision's own), keyed in one query per batch."""
    lists = [(signal.get("decision_fields") or {}).get("affects_products") or [] for signal in signals]
    keys = iter(product_name_keys([name for names in lists for name in names]))
    kept = []
    for names in lists:
        seen: set[str] = set()
        kept.append([])
        for name in names:
            key = next(keys)
            if key not in seen:
                seen.add(key)
                kept[-1].append(name)
    return kept


def _apply_decision(
    *, space: Space, product: ProductState, row: Signal, fields: dict, affects: list[str], prefix: str
) -> None:
    try:
        decision = decision_create(
            space=space,
            decision=row.title,
            product_name=product.name,
            reasoning=row.body,
            tags=fields.get("tags"),
            affects_products=affects,
            alternatives=fields.get("alternatives"),
            supersedes=fields.get("supersedes"),
            decided_at=row.occurred_at,
            source="ingest",
            locked_product=product,  # found and locked by ``signals_ingest``, once for the batch
        )
    except (errors.NotFound, errors.Conflict) as exc:
        # Only ``supersedes`` can fail here; name it with the signal's index.
        exc.details = {**(exc.details or {}), "fields": {"supersedes": [exc.message]}}
        raise _refield(exc, f"{prefix}data.") from None
    row.decision = decision  # stored with the batch's other links (``bulk_update``)


def _usage_event(*, space: Space, product: ProductState, row: Signal, usage: dict, prefix: str) -> CostEvent:
    """The signal's cost event, checked and priced; stored with the batch's others."""
    try:
        return cost_event_build(
            space=space,
            product=product,
            occurred_at=row.occurred_at,
            source="ingest",
            signal_id=str(row.pk),
            **usage,
        )
    except errors.ValidationFailed as exc:
        raise _refield(exc, f"{prefix}data.") from None


@retry_deadlocks
def signals_ingest(*, space: Space, project_id: str, signals: list[dict], batch: bool) -> IngestResult:
    """Store validated signals (``SignalSerializer`` output) for the product ``project_id`` names.

    All or nothing. Repeated ``external_id``s (already stored, or earlier in the same batch) are
    not stored again: their entry carries the stored signal's id and status ``duplicate``.
    ``batch`` says how errors name fields: ``signals[i].data.x`` for a batch, ``data.x`` alone.
    """
    product = ingest_product_resolve(space=space, project_id=project_id)
    now = timezone.now()
    # The product's row first, then signals and decisions: the order consolidation locks them in.
    product_touch(product_id=product.pk, at=now)
    rows = [
        Signal(
            space=space,
            product=product,
            type=signal["type"],
            title=signal["title"],
            body=signal["body"],
            data=signal["data"],
            occurred_at=signal.get("occurred_at") or now,
            received_at=now,
            position=position,
            source=signal["source"],
            external_id=signal.get("external_id"),
            status=Signal.Status.APPLIED if signal["type"] in IMMEDIATE_TYPES else Signal.Status.PENDING,
            applied_at=now if signal["type"] in IMMEDIATE_TYPES else None,
        )
        for position, signal in enumerate(signals)
    ]
    external_ids = {row.external_id for row in rows if row.external_id is not None}
    if external_ids:
        # Ids of deleted signals: read under the product's lock (``product_touch``), which every
        # delete of signals takes too (``deleted_signals_record``), so one committed before is seen.
        deleted = {
            d.external_id: d for d in DeletedSignal.objects.filter(product=product, external_id__in=external_ids)
        }
        # Inserted in external-id order: concurrent batches sharing ids then wait for each
        # other's keys in one order and cannot deadlock. ``position`` keeps the order they were
        # sent in. A repeated id is skipped, so which rows were stored is read back.
        Signal.objects.bulk_create(
            sorted(
                (row for row in rows if row.external_id not in deleted),
                key=lambda row: (row.external_id is None, row.external_id or ""),
            ),
            ignore_conflicts=True,
        )
        stored = set(Signal.objects.filter(pk__in=[row.pk for row in rows]).values_list("pk", flat=True))
    else:  # nothing can repeat (new primary keys, no external id): every row is stored
        deleted = {}
        Signal.objects.bulk_create(rows)
        stored = {row.pk for row in rows}
    repeated = [row.external_id for row in rows if row.pk not in stored and row.external_id not in deleted]
    earlier = (
        {s.external_id: s for s in Signal.objects.filter(product=product, external_id__in=repeated).only("id", "type")}
        if repeated
        else {}
    )
    earlier.update(deleted)  # a deleted signal is still the one stored first

    affects = _affects_one_per_key(signals)
    entries = []
    events: list[CostEvent] = []
    for index, (row, signal) in enumerate(zip(rows, signals, strict=True)):
        if row.pk not in stored:
            first = earlier.get(row.external_id)
            entries.append(
                {"id": first.pk if first else None, "type": first.type if first else row.type, "status": "duplicate"}
            )
            continue
        prefix = f"signals[{index}]." if batch else ""
        if row.type == "decision":
            _apply_decision(
                space=space,
                product=product,
                row=row,
                fields=signal["decision_fields"],
                affects=affects[index],
                prefix=prefix,
            )
        elif row.type == "ai_usage":
            events.append(_usage_event(space=space, product=product, row=row, usage=signal["usage"], prefix=prefix))
        entries.append({"id": row.pk, "type": row.type, "status": row.status})
    # Once per batch, not per signal: the links of signals to their decisions, the cost events.
    linked = [row for row in rows if row.decision_id is not None]
    if linked:
        Signal.objects.bulk_update(linked, ["decision"])
    if events:
        CostEvent.objects.bulk_create(events)
    accepted = len(stored)
    return IngestResult(product=product, signals=entries, accepted=accepted, duplicates=len(rows) - accepted)


def deleted_signals_record(*, signals) -> None:
    """Keep the ``external_id``s of ``signals`` (a query of signals about to be deleted) taken
    (``DeletedSignal``), so that a resend is counted as a duplicate rather than charged or decided
    again. Every delete of signals calls it first: ``signals_delete`` and the decision deletes
    whose signals go with their decision (``Signal.decision`` cascades). The caller holds the
    signals' product rows (``products_lock``), the lock ingest reads these rows under.
    """
    kept = signals.filter(external_id__isnull=False).values_list("pk", "product_id", "type", "external_id")
    DeletedSignal.objects.bulk_create(
        [DeletedSignal(id=pk, product_id=product, type=kind, external_id=key) for pk, product, kind, key in kept],
        batch_size=1000,
        ignore_conflicts=True,  # the id is taken either way
    )


@retry_deadlocks
def signals_delete(*, signals) -> None:
    """Delete the ``signals`` (a queryset, of any spaces; the admin's) after their product rows
    (``products_lock``): the lock ingest takes before it writes signals, and consolidation before
    it locks the pending ones it applies. Without it a delete of several pending signals locked
    them in an order of its own against a running consolidation's. A decision a signal created
    stays, and so does a cost event: each signal's ``external_id`` stays taken
    (``deleted_signals_record``). Only signals of the locked products go (one recorded since,
    matching the selection's filter, is left alone).
    Run again when still a deadlock's victim; inside a caller's transaction (the admin's page) the
    caller's own retry reruns the whole of it.
    """
    ids = signals.values("pk")
    products = products_lock(product_ids=Signal.objects.filter(pk__in=ids).values("product_id"))
    doomed = Signal.objects.filter(pk__in=ids, product_id__in=products)
    deleted_signals_record(signals=doomed)
    doomed.delete()
