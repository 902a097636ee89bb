"""The kernel in workspace scopes: writes go to the active layer; nothing personal leaks."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/memory/identity"
HISTORY = "/api/v1/memory/identity/history"
EXPORT = "/api/v1/kernel/export"


@pytest.fixture
def team(make_user, client_for):
    """An owner with a team workspace, a member and a viewer in it, and an outsider."""
    owner, member, viewer, outsider = (make_user(tier="team") for _ in range(4))
    owner_api = client_for(owner)
    created = owner_api.post("/api/v1/workspaces", json={"name": "Studio", "kind": "team"})
    assert created.status_code == 201, created.text
    workspace_id = created.json()["id"]
    for person, role in ((member, "member"), (viewer, "viewer")):
        added = owner_api.post(f"/api/v1/workspaces/{workspace_id}/members", json={"email": person.email, "role": role})
        assert added.status_code in (200, 201), added.text
    return {
        "id": workspace_id,
        "header": {"X-Synchronex-Scope": workspace_id},
        "owner": owner_api,
        "member": client_for(member),
        "viewer": client_for(viewer),
        "outsider": client_for(outsider),
    }


def test_a_workspace_write_goes_to_the_workspace_layer_only(team):
    owner, header = team["owner"], team["header"]
    owner.put(URL, json={"identity": {"name": "Owner personal"}, "constraints": {"never": ["Share secrets"]}})
    written = owner.put(URL, json={"products": [{"name": "Client site"}]}, headers=header)
    assert written.status_code == 200, written.text
    assert written.json()["scope"] == "team" and written.json()["version"] == 1
    personal = owner.get(URL, headers={"X-Synchronex-Scope": "personal"}).json()
    assert personal["scope"] == "personal" and personal["version"] == 1 and personal["products"] is None
    assert owner.get(HISTORY, headers=header).json()["count"] == 1


def test_members_never_see_another_members_personal_kernel(team):
    owner, member, header = team["owner"], team["member"], team["header"]
    owner.put(URL, json={"identity": {"name": "Owner secret name"}, "constraints": {"never": ["Owner rule"]}})
    owner.put(URL, json={"constraints": {"always": ["Workspace rule"]}}, headers=header)
    seen = member.get(URL, headers=header)
    assert seen.status_code == 200 and seen.json()["scope"] == "team"
    assert "Workspace rule" in seen.json()["injection_block"]
    assert "Owner" not in seen.text
    history = member.get(HISTORY, headers=header).json()
    assert history["count"] == 1 and "Owner" not in str(history)
    exported = member.get(EXPORT, headers=header).text
    assert "Workspace rule" in exported and "Owner" not in exported


def test_workspace_history_names_its_scope_and_who_wrote_each_revision(team):
    owner, member, header = team["owner"], team["member"], team["header"]
    owner.put(URL, json={"identity": {"name": "Studio"}}, headers=header)
    member.put(URL, json={"identity": {"company": "Acme"}}, headers=header)
    people = {m["role"]: m for m in owner.get(f"/api/v1/workspaces/{team['id']}").json()["members"]}
    history = team["viewer"].get(HISTORY, headers=header).json()
    assert history["scope"] == "team"
    assert [r["actor_user"] for r in history["results"]] == [
        {key: people[role][key] for key in ("user_id", "email", "name")} for role in ("member", "owner")
    ]


def test_a_viewer_reads_but_cannot_write_the_workspace_kernel(team):
    viewer, header = team["viewer"], team["header"]
    assert viewer.get(URL, headers=header).status_code == 200
    response = viewer.put(URL, json={"identity": {"name": "Viewer"}}, headers=header)
    assert response.status_code == 403 and response.json()["error"]["code"] == "FORBIDDEN"
    assert viewer.get(URL, headers=header).json()["version"] == 0


def test_outsiders_cannot_reach_the_workspace_kernel(team):
    outsider, header = team["outsider"], team["header"]
    team["owner"].put(URL, json={"identity": {"name": "Studio"}}, headers=header)
    for response in (
        outsider.get(URL, headers=header),
        outsider.put(URL, json={"identity": {"name": "x"}}, headers=header),
        outsider.get(HISTORY, headers=header),
        outsider.get(EXPORT, headers=header),
    ):
        assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"
    assert "Studio" not in outsider.get(URL).text
