"""Workspace members and the stored scope under concurrent requests (SPEC §3)."""

from __future__ import annotations

import uuid

import pytest

from apps.scopes import selectors
from apps.scopes.models import ActiveScope, Membership, Space
from apps.scopes.services import scope_set
from tests.support.concurrency import together

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 6


@pytest.fixture
def owner_api(client_for, make_user):
    return client_for(make_user(tier="team"))


def create_workspace(api, name="Acme"):
    response = api.post("/api/v1/workspaces", json={"name": name, "kind": "team"})
    assert response.status_code == 201, response.text
    return response.json()


def test_simultaneous_adds_of_one_member_add_them_once_and_answer_like_a_second_add(owner_api, make_user):
    workspace_id = create_workspace(owner_api)["id"]
    path = f"/api/v1/workspaces/{workspace_id}/members"
    for _ in range(4):  # a few rounds: each one a fresh user added by several clients at once
        member = make_user()

        def add(i, email=member.email):
            client = owner_api.as_token(owner_api.token)  # a session per thread
            return client.post(path, json={"email": email, "role": "member"})

        responses = together(CLIENTS, add)
        assert sorted(r.status_code for r in responses) == [200] * (CLIENTS - 1) + [201], [r.text for r in responses]
        assert {r.json()["role"] for r in responses} == {"member"}
        assert Membership.objects.filter(space_id=workspace_id, user=member).count() == 1


def test_a_stale_fallback_keeps_the_scope_stored_meanwhile(owner_api, client_for, make_user, monkeypatch):
    left, kept = create_workspace(owner_api, "Left"), create_workspace(owner_api, "Kept")
    member = make_user()
    for workspace in (left, kept):
        added = owner_api.post(
            f"/api/v1/workspaces/{workspace['id']}/members", json={"email": member.email, "role": "member"}
        )
        assert added.status_code == 201
    member_api = client_for(member)
    member_api.patch("/api/v1/scope", json={"workspace_id": left["id"]})
    assert owner_api.delete(f"/api/v1/workspaces/{left['id']}/members/{member.id}").status_code == 204

    # A request reads the stored workspace the member has left; before it resets the stored scope,
    # a PATCH /scope of another client of the member's stores a workspace they are still in.
    read_candidates = selectors._candidates

    def read_then_another_client_patches(user, workspace_id):
        spaces = read_candidates(user, workspace_id)
        if user.pk == member.pk and workspace_id is selectors.STORED:
            monkeypatch.setattr(selectors, "_candidates", read_candidates)
            scope_set(user=user, workspace=Space.objects.get(pk=kept["id"]))
        return spaces

    monkeypatch.setattr(selectors, "_candidates", read_then_another_client_patches)
    stale = member_api.get("/api/v1/scope")
    assert stale.status_code == 200 and stale.json()["scope"] == "personal"
    assert "no longer available" in stale.headers["X-Synchronex-Scope-Notice"]
    assert ActiveScope.objects.get(user=member).workspace_id == uuid.UUID(kept["id"])
    assert member_api.get("/api/v1/scope").json()["workspace_id"] == kept["id"]


def test_a_manager_removed_or_demoted_meanwhile_no_longer_manages_members(
    owner_api, client_for, make_user, monkeypatch
):
    from apps.scopes.api import views

    workspace_id = create_workspace(owner_api)["id"]
    admin, member, newcomer = make_user(), make_user(), make_user()
    for user, role in ((admin, "admin"), (member, "member")):
        added = owner_api.post(f"/api/v1/workspaces/{workspace_id}/members", json={"email": user.email, "role": role})
        assert added.status_code == 201
    admin_api, admins_row = client_for(admin), Membership.objects.filter(space_id=workspace_id, user=admin)

    # The owner removes the admin after the admin's request read its membership, before it adds.
    put = views.member_put_by_email

    def removed_meanwhile(**kwargs):
        admins_row.delete()
        return put(**kwargs)

    monkeypatch.setattr(views, "member_put_by_email", removed_meanwhile)
    refused = admin_api.post(
        f"/api/v1/workspaces/{workspace_id}/members", json={"email": newcomer.email, "role": "member"}
    )
    assert refused.status_code == 404, refused.text
    assert not Membership.objects.filter(space_id=workspace_id, user=newcomer).exists()

    # The owner makes the admin a viewer after the admin's request read its membership, before it removes.
    Membership.objects.create(space_id=workspace_id, user=admin, role="admin")
    remove = views.member_remove

    def demoted_meanwhile(**kwargs):
        admins_row.update(role="viewer")
        return remove(**kwargs)

    monkeypatch.setattr(views, "member_remove", demoted_meanwhile)
    refused = admin_api.delete(f"/api/v1/workspaces/{workspace_id}/members/{member.id}")
    assert refused.status_code == 403, refused.text
    assert Membership.objects.filter(space_id=workspace_id, user=member).exists()


def test_an_owner_and_an_admin_managing_each_other_at_once_never_deadlock(owner_api, client_for, make_user):
    workspace_id = create_workspace(owner_api)["id"]
    path = f"/api/v1/workspaces/{workspace_id}/members"
    for _ in range(3):
        admin, member = make_user(), make_user()
        for user, role in ((admin, "admin"), (member, "member")):
            assert owner_api.post(path, json={"email": user.email, "role": role}).status_code == 201
        admin_api = client_for(admin)

        def act(i, admin=admin, member=member, admin_api=admin_api):
            if i == 0:  # the owner demotes the admin (locks the owner's row and the admin's)
                return owner_api.as_token(owner_api.token).post(path, json={"email": admin.email, "role": "viewer"})
            return admin_api.delete(f"{path}/{member.id}")  # the admin removes a member (its row and theirs)

        demoted, removal = together(2, act)
        assert demoted.status_code == 200, demoted.text
        assert removal.status_code in (204, 403), removal.text  # before or after the demotion, never a 500
        assert Membership.objects.filter(space_id=workspace_id, user=member).exists() == (removal.status_code == 403)
