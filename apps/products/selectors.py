"""Reads of product states, always narrowed to one space."""

from __future__ import annotations

import uuid

from django.db import connection
from django.db.models import Case, Q, QuerySet, Value, When
from django.db.transaction import TransactionManagementError

from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.rows import Rows

from .models import ProductState
from .names import clean_product_name, name_problem, normalise_product_name

# The lookup by name, written out (synchronex/api/rows.py): product reads and writes, searches
# and exports by product name make it on every request. lower(name) is exactly the unique
# index's expression, so the lookup uses it; the name asked for is lowered by PostgreSQL too,
# never by Python: str.lower() follows Unicode's context rules (a final 'Σ' becomes 'ς', 'İ'
# becomes two characters) where the server's lower() maps one character at a time, and a key
# lowered by the other would never meet the one the index holds.
_PRODUCT = Rows(ProductState, "p")
_BY_NAME_SQL = (
    f"SELECT {_PRODUCT.columns} FROM {ProductState._meta.db_table} p "
    "WHERE p.space_id = %s AND lower(p.name) = lower(%s)"
)


def _one_by_name(*, space: Space, name: str, lock: bool = False) -> ProductState | None:
    sql = f"{_BY_NAME_SQL} FOR UPDATE" if lock else _BY_NAME_SQL
    return _PRODUCT.one(sql, [space.pk, name])


def product_find(*, space: Space, name: str) -> ProductState | None:
    """The product of ``space`` called ``name`` (case-insensitive, trimmed), or None."""
    if not isinstance(name, str):
        return None
    clean = normalise_product_name(name)
    if name_problem(clean):
        return None
    return _one_by_name(space=space, name=clean)


def product_by_id(*, space: Space, product_id) -> ProductState | None:
    """The product of ``space`` with that id, else the one imported from that id (``origin_id``:
    its id in the system it came from), or None (a malformed id too). Every lookup of a product
    by id goes through here."""
    try:
        pk = uuid.UUID(str(product_id).strip())
    except ValueError:
        return None
    rows = ProductState.objects.filter(Q(pk=pk) | Q(origin_id=pk), space=space)
    # At most one row of each kind (primary key; unique per space); the row's own id wins.
    return rows.order_by(Case(When(pk=pk, then=Value(0)), default=1)).first()


def product_find_for_update(*, space: Space, name: str) -> ProductState | None:
    """Like ``product_find`` but locks the row until the surrounding transaction ends."""
    if not connection.in_atomic_block:  # as the ORM's select_for_update: a lock needs a transaction
        raise TransactionManagementError("product_find_for_update needs a transaction.")
    return _one_by_name(space=space, name=normalise_product_name(name), lock=True)


def product_get(*, space: Space, name: str) -> ProductState:
    """The product, VALIDATION_ERROR for an impossible name, NOT_FOUND when missing."""
    clean = clean_product_name(name)
    product = _one_by_name(space=space, name=clean)
    if product is None:
        raise errors.NotFound(f"No product named {clean!r} in this scope.")
    return product


def product_list(*, space: Space) -> QuerySet[ProductState]:
    """The products of ``space``, newest activity first."""
    return ProductState.objects.filter(space=space).order_by("-last_activity_at", "id")
