"""``decisions_superseded``: a product's superseded decisions, and those that list it as affected."""

from __future__ import annotations

import pytest

from apps.decisions.services import decision_create
from apps.mcp.selectors import decisions_superseded
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["Atlas", "ΟΔΟΣ", "İstanbul"])
def test_a_decision_affecting_the_product_counts_whatever_its_letters(user, name):
    """The affected key is lowered as PostgreSQL lowers affects_keys, not by str.lower()."""
    space = space_ensure_personal(user=user)
    product = product_ensure(space=space, name=name)
    old = decision_create(space=space, decision="Old ferry", product_name="Other", affects_products=[name.upper()])
    decision_create(space=space, decision="New ferry", product_name="Other", supersedes=old.pk)
    decision_create(space=space, decision="Unrelated", product_name="Third")
    assert [row.decision for row in decisions_superseded(space=space, product=product)] == ["Old ferry"]
