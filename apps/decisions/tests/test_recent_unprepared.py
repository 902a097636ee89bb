"""A product's ``recent_decisions`` (``decision_recent_for_product``: every product state read, REST
and MCP) are read with a plan made for that product, never a prepared one. A generic plan reads
``space_id = $3`` by the average space, so it found the decisions that affect the product by reading
every current decision of the space and sorting them: in a space of 20,000 decisions 16 ms instead
of 1.7 planned for the product. A connection takes that plan once the products it read cost more to
plan on average (a large space's products that nothing affects): 18-20 ms for each read after."""

import pytest

from apps.decisions.selectors import decision_recent_for_product
from apps.decisions.services import decision_create
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal
from tests.support.prepared import never_prepared

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_recent_decisions_are_never_read_by_a_prepared_statement(user):
    space = space_ensure_personal(user=user)
    atlas = product_ensure(space=space, name="Atlas")
    decision_create(space=space, decision="Ferry on Mondays", product_name="Atlas")
    decision_create(space=space, decision="Shared harbour", product_name="Borealis", affects_products=["Atlas"])
    with never_prepared("affects_keys @> ARRAY[lower("):
        for _ in range(8):  # far past the connection's prepare threshold
            recent = decision_recent_for_product(product=atlas)
            assert [row.decision for row in recent] == ["Shared harbour", "Ferry on Mondays"]
            assert [row.product.name for row in recent] == ["Borealis", "Atlas"]
