"""Product states and decisions follow the active scope (SPEC §3): workspace data stays in the
workspace, personal data stays personal, and viewers read but never write."""

from __future__ import annotations

import pytest

from apps.scopes.models import Membership
from apps.scopes.services import member_put, workspace_create

from .helpers import DECISIONS, record, search, texts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def team(make_user, client_for):
    owner, viewer, outsider = make_user(tier="team"), make_user(), make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Acme", kind="team")
    owner_membership = Membership.objects.get(space=workspace, user=owner)
    member_put(actor_membership=owner_membership, user=viewer, role="viewer")
    header = {"X-Synchronex-Scope": str(workspace.id)}
    return {
        "owner": client_for(owner),
        "viewer": client_for(viewer),
        "outsider": client_for(outsider),
        "header": header,
    }


def test_workspace_and_personal_memory_are_separate(team):
    owner, header = team["owner"], team["header"]
    record(owner, "Personal choice", product="Side Project")
    shared = owner.post(DECISIONS, json={"decision": "Team choice", "product_name": "Acme App"}, headers=header)
    assert shared.status_code == 201 and shared.json()["scope"] == "team"
    in_team = owner.get("/api/v1/memory/decisions/search", headers=header).json()
    assert texts(in_team) == ["Team choice"] and in_team["scope"] == "team"
    assert texts(search(owner)) == ["Personal choice"]
    team_products = owner.get("/api/v1/memory/products", headers=header).json()
    assert [p["name"] for p in team_products["results"]] == ["Acme App"]
    assert owner.get("/api/v1/memory/product/Side%20Project/state", headers=header).status_code == 404
    assert owner.get(f"{DECISIONS}/{shared.json()['id']}").status_code == 404  # not in personal scope


def test_viewers_read_but_cannot_write(team):
    owner, viewer, header = team["owner"], team["viewer"], team["header"]
    made = owner.post(DECISIONS, json={"decision": "Team choice", "product_name": "Acme App"}, headers=header).json()
    assert texts(viewer.get("/api/v1/memory/decisions/search", headers=header).json()) == ["Team choice"]
    state = viewer.get("/api/v1/memory/product/acme%20app/state", headers=header)
    assert state.status_code == 200 and state.json()["scope"] == "team"
    attempts = [
        viewer.post("/api/v1/memory/product/Acme%20App/state", json={"status": "paused"}, headers=header),
        viewer.post(DECISIONS, json={"decision": "x", "product_name": "Acme App"}, headers=header),
        viewer.delete(f"{DECISIONS}/{made['id']}", headers=header),
    ]
    assert [r.status_code for r in attempts] == [403, 403, 403]
    assert owner.get(f"{DECISIONS}/{made['id']}", headers=header).status_code == 200


def test_non_members_cannot_reach_the_workspace(team):
    outsider, header = team["outsider"], team["header"]
    response = outsider.get("/api/v1/memory/decisions/search", headers=header)
    assert response.status_code == 404
