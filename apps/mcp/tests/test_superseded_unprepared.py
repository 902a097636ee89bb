"""``check_memory_confidence`` reads a space's superseded decisions (``decisions_superseded``) with
a plan made for that space, never a prepared one: a generic plan reads ``space_id = $1`` by the
average space, so for a space of 10,000 superseded decisions it joined each of them to every
product of every space (13 ms planned for the space, 98 ms prepared, and growing with the table)."""

import pytest

from apps.decisions.services import decision_create
from apps.mcp.selectors import decisions_superseded
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal
from tests.support.prepared import never_prepared

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_superseded_decisions_are_never_read_by_a_prepared_statement(user):
    space = space_ensure_personal(user=user)
    product = product_ensure(space=space, name="Atlas")
    old = decision_create(space=space, decision="Old ferry", product_name="Atlas")
    decision_create(space=space, decision="New ferry", product_name="Atlas", supersedes=old.pk)
    with never_prepared('"superseded_by_id" IS NOT NULL'):
        for _ in range(8):  # far past the connection's prepare threshold
            assert [row.decision for row in decisions_superseded(space=space, product=product)] == ["Old ferry"]
            assert [row.superseded_by.decision for row in decisions_superseded(space=space)] == ["New ferry"]
