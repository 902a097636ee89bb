"""Fixtures of the decision tests."""

from __future__ import annotations

import pytest

from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal


@pytest.fixture
def product(user):
    """The user's personal space's product "Atlas"."""
    return product_ensure(space=space_ensure_personal(user=user), name="Atlas")
