"""The product lookup by name, plain and locking."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.db.transaction import TransactionManagementError

from apps.products.selectors import product_find, product_find_for_update
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal


@pytest.mark.django_db(transaction=True)
def test_the_locking_lookup_finds_by_name_in_any_case_and_needs_a_transaction(user, make_user):
    space = space_ensure_personal(user=user)
    product = product_ensure(space=space, name="Mobile App")
    other = space_ensure_personal(user=make_user("other@example.com"))
    with transaction.atomic():
        assert product_find_for_update(space=space, name="  mobile APP ").pk == product.pk
        assert product_find_for_update(space=other, name="Mobile App") is None
    assert product_find(space=space, name="MOBILE app").pk == product.pk
    with pytest.raises(TransactionManagementError):
        product_find_for_update(space=space, name="Mobile App")
