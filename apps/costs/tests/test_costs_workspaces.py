"""Costs in workspaces: a summary covers the active scope only."""

from __future__ import annotations

from decimal import Decimal

import pytest

from apps.costs.services import cost_event_record
from apps.products.services import product_ensure
from apps.scopes.models import Membership
from apps.scopes.services import space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/ai/costs"


def test_workspace_costs_are_separate_from_personal_ones(client_for, make_user):
    owner, member = make_user(tier="team"), make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Acme", kind="team")
    Membership.objects.create(space=workspace, user=member, role="viewer")
    shared = product_ensure(space=workspace, name="Shared")
    cost_event_record(
        space=workspace, product=shared, provider="x", model="y", input_tokens=1, output_tokens=1, cost_usd="2.5"
    )
    cost_event_record(
        space=space_ensure_personal(user=owner), provider="x", model="y", input_tokens=1, output_tokens=1, cost_usd="7"
    )
    in_workspace = {"X-Synchronex-Scope": str(workspace.id)}

    body = client_for(member, "read").get(URL, headers=in_workspace).json()
    assert body["scope"] == "team" and Decimal(str(body["total_cost_usd"])) == Decimal("2.5")
    assert client_for(member, "read").get(f"{URL}/Shared", headers=in_workspace).status_code == 200
    personal = client_for(owner, "read")
    assert personal.get(URL).json()["total_cost_usd"] == 7
    assert personal.get(f"{URL}/Shared").status_code == 404  # the product lives in the workspace
