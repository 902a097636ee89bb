"""Writes of product states (SPEC §5)."""

from __future__ import annotations

from typing import NoReturn

from django.db import IntegrityError, connection, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.preconditions import IfMatch, IfNoneMatch, etag_for
from synchronex.db.deadlocks import retry_deadlocks

from .models import ProductState
from .names import clean_product_name, normalise_product_name, product_name_keys
from .selectors import product_find, product_find_for_update

# Fields a state write may set; lists replace the stored list. ``last_session_summary`` is
# written by session ends (MCP); the REST body does not accept it.
WRITABLE_FIELDS = (
    "status",
    "what_works",
    "what_is_blocked",
    "open_questions",
    "next_session_starts_here",
    "last_session_summary",
)


def product_ensure(*, space: Space, name: str) -> ProductState:
    """The product called ``name`` in ``space``, created when missing (race-safe).

    Raises VALIDATION_ERROR on ``product_name`` for an impossible name.
    """
    clean = clean_product_name(name, field="product_name")
    product = product_find(space=space, name=clean)
    if product is not None:
        return product
    try:
        with transaction.atomic():
            return ProductState.objects.create(space=space, name=clean)
    except IntegrityError:
        # A concurrent request created it first; the unique index waited for its commit.
        product = product_find(space=space, name=clean)
        if product is None:
            raise
        return product


def products_ensure(*, space: Space, names) -> dict[str, ProductState]:
    """``product_ensure`` for many names at once: ``{name: product}`` for every name given, the
    missing products created (race-safe), in four statements at most however many names.

    Names are matched by the database's key (``apps.products.names``), so two spellings of one
    missing product create it once, under the first. Raises VALIDATION_ERROR on
    ``product_name`` for an impossible name, before anything is written.
    """
    given = list(dict.fromkeys(names))
    clean = [clean_product_name(name, field="product_name") for name in given]
    if not given:
        return {}
    keys = dict(zip(given, product_name_keys(clean), strict=True))

    def by_key(wanted) -> dict:
        rows = ProductState.objects.filter(space=space).annotate(key=Lower("name")).filter(key__in=wanted)
        return {row.key: row for row in rows}

    found = by_key(set(keys.values()))
    missing = {}
    for name, spelled in zip(given, clean, strict=True):
        if keys[name] not in found:
            missing.setdefault(keys[name], spelled)
    if missing:
        # A concurrent creator's row wins (the unique index waits for its commit), then is read.
        ProductState.objects.bulk_create(
            [ProductState(space=space, name=name) for name in missing.values()], ignore_conflicts=True
        )
        found |= by_key(set(missing))
        if not found.keys() >= missing.keys():
            raise IntegrityError("A product being created was deleted concurrently.")
    return {name: found[keys[name]] for name in given}


def _check_preconditions(
    product: ProductState | None, if_match: IfMatch | None, if_none_match: IfNoneMatch | None
) -> None:
    # If-Match first, then If-None-Match (RFC 9110 §13.2.2).
    if if_match is not None:
        if product is None:
            # Even ``*`` fails: it names a current version, and there is none (nor an ETag to send).
            raise errors.PreconditionFailed(f"{if_match.sent_as} was sent but the product does not exist yet.")
        if not if_match.matches(product.version):
            _refuse(product, f"your {if_match.sent_as} does not match")
    if if_none_match is not None and product is not None and if_none_match.matches(product.version):
        _refuse(product, "your If-None-Match refuses to write over it")


def _refuse(product: ProductState, reason: str) -> NoReturn:
    raise errors.PreconditionFailed(
        f"The product is at version {product.version}; {reason}.",
        details={"current_version": product.version},
        headers={"ETag": etag_for(product.version)},
    )


@retry_deadlocks
def product_state_write(
    *,
    space: Space,
    name: str,
    changes: dict,
    if_match: IfMatch | None = None,
    if_none_match: IfNoneMatch | None = None,
) -> tuple[ProductState, bool]:
    """Partially update (or create) a product's state; returns (product, created).

    The row is locked for the whole transaction, so concurrent writes apply one after the other
    and an ``If-Match`` version is compared against the committed latest state: with the same
    If-Match, exactly one of two concurrent writes wins and the other is PRECONDITION_FAILED.
    ``if_match`` is None (no header) or the parsed header (``IfMatch``); a mismatch answers the
    current ``ETag``, as the kernel's does. ``if_none_match`` (``IfNoneMatch``) refuses a write
    over a version it names, ``*`` over any: of concurrent creators sending ``*`` exactly one
    creates the product, since the others' inserts wait on the unique index for its commit, fail,
    and are then checked against the row it made.
    """
    unknown = set(changes) - set(WRITABLE_FIELDS)
    if unknown:
        raise ValueError(f"Not writable: {sorted(unknown)}")
    clean = clean_product_name(name)
    product = product_find_for_update(space=space, name=clean)
    if product is None:
        _check_preconditions(None, if_match, if_none_match)
        try:
            with transaction.atomic():
                product = ProductState.objects.create(space=space, name=clean, **changes)
            return product, True
        except IntegrityError:
            product = product_find_for_update(space=space, name=clean)
            if product is None:
                raise
    _check_preconditions(product, if_match, if_none_match)
    changed = [field for field, value in changes.items() if getattr(product, field) != value]
    if changed:
        for field in changed:
            setattr(product, field, changes[field])
        product.version += 1
        product.last_activity_at = timezone.now()
        product.save(update_fields=[*changed, "version", "last_activity_at", "updated_at"])
    return product, False


def product_touch(*, product_id, at=None) -> None:
    """Record activity on a product (a decision or signal naming it) without a state change."""
    ProductState.objects.filter(pk=product_id).update(last_activity_at=at or timezone.now())


def products_lock(*, product_ids) -> list:
    """Lock these product rows (ids, or a query of them) in id order to the end of the caller's
    transaction, and return the ids locked: the lock every writer of a product's decisions and
    signals takes first (an update, ``product_touch``'s: ``FOR NO KEY UPDATE``), in the order
    consolidation locks a space's products in, so a write holding it waits for a running
    consolidation's steps 1–3 instead of closing a lock cycle with them."""
    rows = ProductState.objects.select_for_update(no_key=True).filter(pk__in=product_ids).order_by("id")
    return list(rows.values_list("pk", flat=True))


# The entries' pairs set on their states, matched by the product-name key (PostgreSQL's lower()).
_DESCRIPTIONS_SET = """
UPDATE products_productstate AS p SET kernel_summary = e.summary, kernel_url = e.url
  FROM unnest(%s::text[], %s::text[], %s::text[]) AS e(name, summary, url)
 WHERE p.space_id = %s AND lower(p.name) = lower(e.name)
   AND (p.kernel_summary, p.kernel_url) IS DISTINCT FROM (e.summary, e.url)
"""
# The pairs of the states named by a removed entry (``gone``) and by no entry kept, cleared.
_DESCRIPTIONS_CLEAR = """
UPDATE products_productstate SET kernel_summary = '', kernel_url = ''
 WHERE space_id = %s AND (kernel_summary <> '' OR kernel_url <> '')
   AND lower(name) IN (SELECT lower(n) FROM unnest(%s::text[]) AS n)
   AND lower(name) NOT IN (SELECT lower(n) FROM unnest(%s::text[]) AS n)
"""


def products_kernel_descriptions_record(*, space: Space, entries: list[dict], previous: list[dict]) -> None:
    """Record on ``space``'s product states the ``summary`` and ``url`` (absent: blank) of the
    kernel product ``entries`` a kernel write stores, and clear them on the states whose entry it
    removed (in ``previous``, the entries it replaces): consolidation puts back a product that
    left the kernel with what its state holds, and an entry the owner deleted must not come back
    with its text. States of other spaces are never written. One UPDATE for the entries, and one
    for the removed when the write removed any; only changed rows are written.

    ``entries`` are validated (one per product key); names are compared by the product-name key.
    """
    names = [normalise_product_name(entry["name"]) for entry in entries]
    pairs = [[entry.get(field) or "" for entry in entries] for field in ("summary", "url")]
    gone = [normalise_product_name(e["name"]) for e in previous if isinstance(e.get("name"), str)]
    gone = [name for name in gone if name not in names]  # the same spelling kept: the same product
    with connection.cursor() as cursor:
        if names:
            cursor.execute(_DESCRIPTIONS_SET, [names, *pairs, space.pk])
        if gone:
            cursor.execute(_DESCRIPTIONS_CLEAR, [space.pk, gone, names])
