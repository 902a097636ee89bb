"""Connections prepare the statements they repeat, except searches (planned per call)."""

from __future__ import annotations

import pytest
from django.db import connection

from apps.decisions.services import decision_create
from apps.scopes.services import space_ensure_personal
from synchronex.api import stamps
from tests.support.prepared import prepared_statements

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path, params",
    [
        ("/api/v1/memory/decisions/search", {"q": "pricing"}),
        ("/api/v1/memory/decisions/search", {"q": "pricnig"}),  # the trigram fallback
        ("/api/v1/memory/decisions/search", {"product": "Atlas", "tags": "growth"}),  # newest first
        ("/api/v1/memory/search", {"q": "pricing"}),
    ],
)
def test_hot_statements_are_prepared_and_searches_are_not(user, inproc_for, path, params):
    assert connection.settings_dict["OPTIONS"].get("server_side_binding") is True
    space = space_ensure_personal(user=user)
    for i in range(3):
        decision_create(space=space, decision=f"Pricing change {i}", product_name="Atlas", tags=["growth"])
    client = inproc_for(user, "read")
    for _ in range(6):
        stamps.forget()  # so that the active space is read each time, not remembered
        assert client.get(path, params).status_code == 200
    statements = prepared_statements()
    assert any("FROM accounts_apikey k JOIN accounts_user u" in sql for sql in statements)  # the key lookup
    assert any("FROM scopes_space s" in sql for sql in statements)  # the active space
    # Ranked searches match a tsquery (@@); the newest-first listing pages through a LATERAL
    # join. (Fetching a page's items by id may be prepared.)
    searches = [sql for sql in statements if "@@" in sql or "LATERAL" in sql]
    assert searches == []
    if params.get("q") == "pricnig" and path.endswith("decisions/search"):
        # The typo correction's two statements are: their plans do not depend on the words.
        assert any("SELECT EXISTS" in sql and "decisions_decisionword" in sql for sql in statements)
        assert any("WITH RECURSIVE unknown" in sql for sql in statements)
