"""Workspaces, memberships and the active scope (SPEC §3)."""

import uuid

import pytest

from apps.accounts.models import User
from apps.scopes.models import ActiveScope, Space


@pytest.fixture
def team_owner(make_user):
    return make_user(tier="team")


@pytest.fixture
def owner_api(client_for, team_owner):
    return client_for(team_owner)


def create_workspace(api, name="Acme", kind="team"):
    response = api.post("/api/v1/workspaces", json={"name": name, "kind": kind})
    assert response.status_code == 201, response.text
    return response.json()


def add_member(api, workspace_id, email, role):
    return api.post(f"/api/v1/workspaces/{workspace_id}/members", json={"email": email, "role": role})


def test_new_account_is_in_its_personal_scope(write_api):
    assert write_api.get("/api/v1/scope").json() == {
        "workspace_id": None,
        "scope": "personal",
        "workspace": None,
        "available": [],
    }


def test_team_plan_creates_workspaces_and_owns_them(owner_api, team_owner):
    response = owner_api.post("/api/v1/workspaces", json={"name": "  Acme Agency  ", "kind": "agency"})
    assert response.status_code == 201, response.text
    workspace = response.json()
    assert response.headers["Location"] == f"/api/v1/workspaces/{workspace['id']}"
    assert owner_api.get(response.headers["Location"]).json()["id"] == workspace["id"]
    assert workspace["name"] == "Acme Agency"
    assert (workspace["kind"], workspace["role"], workspace["owner_email"]) == ("agency", "owner", team_owner.email)
    listing = owner_api.get("/api/v1/workspaces").json()
    assert listing["count"] == 1 and listing["results"][0]["id"] == workspace["id"]
    available = owner_api.get("/api/v1/scope").json()["available"]
    assert available == [{"id": workspace["id"], "name": "Acme Agency", "kind": "agency", "role": "owner"}]


@pytest.mark.parametrize("tier", ["free", "pro"])
def test_creating_a_workspace_needs_the_team_plan(client_for, make_user, tier):
    response = client_for(make_user(tier=tier)).post("/api/v1/workspaces", json={"name": "X", "kind": "team"})
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"required_tier": "team", "current_tier": tier}


@pytest.mark.parametrize(
    "body,fields",
    [
        ({"name": "", "kind": "team"}, {"name"}),
        ({"name": "x" * 201, "kind": "team"}, {"name"}),
        ({"name": "X", "kind": "personal"}, {"kind"}),
        ({"name": "X"}, {"kind"}),
        ({"name": "X", "kind": "team", "colour": "red"}, {"colour"}),
        ({"name": 5, "kind": ["team"]}, {"kind"}),
    ],
)
def test_workspace_creation_bad_input(owner_api, body, fields):
    response = owner_api.post("/api/v1/workspaces", json=body)
    assert response.status_code == 400
    assert fields <= set(response.json()["error"]["details"]["fields"])


def test_patch_scope_stores_the_active_workspace(owner_api):
    workspace = create_workspace(owner_api)
    response = owner_api.patch("/api/v1/scope", json={"workspace_id": workspace["id"]})
    assert response.status_code == 200
    body = response.json()
    assert body["workspace_id"] == workspace["id"] and body["scope"] == "team"
    assert body["workspace"] == {"id": workspace["id"], "name": "Acme", "kind": "team", "role": "owner"}
    assert owner_api.get("/api/v1/scope").json()["scope"] == "team"
    back = owner_api.patch("/api/v1/scope", json={"workspace_id": None}).json()
    assert back["scope"] == "personal" and back["workspace"] is None


@pytest.mark.parametrize(
    "body,status",
    [({"workspace_id": "not-a-uuid"}, 400), ({}, 400), ({"workspace_id": None, "x": 1}, 400), ([], 400)],
)
def test_patch_scope_bad_input(owner_api, body, status):
    assert owner_api.patch("/api/v1/scope", json=body).status_code == status


def test_patch_scope_to_a_foreign_or_unknown_workspace_is_not_found(owner_api, client_for, make_user):
    foreign = create_workspace(client_for(make_user(tier="team")))
    for workspace_id in (foreign["id"], str(uuid.uuid4())):
        response = owner_api.patch("/api/v1/scope", json={"workspace_id": workspace_id})
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "NOT_FOUND"


def test_read_key_cannot_change_the_scope(client_for, team_owner):
    response = client_for(team_owner, "read").patch("/api/v1/scope", json={"workspace_id": None})
    assert response.status_code == 403


def test_header_overrides_the_stored_scope_per_request(owner_api):
    workspace = create_workspace(owner_api)
    assert owner_api.get("/api/v1/scope", headers={"X-Synchronex-Scope": workspace["id"]}).json()["scope"] == "team"
    owner_api.patch("/api/v1/scope", json={"workspace_id": workspace["id"]})
    assert owner_api.get("/api/v1/scope", headers={"X-Synchronex-Scope": "personal"}).json()["scope"] == "personal"
    assert owner_api.get("/api/v1/scope").json()["scope"] == "team"  # the stored setting is untouched


def test_header_with_a_foreign_or_malformed_workspace(owner_api, client_for, make_user):
    foreign = create_workspace(client_for(make_user(tier="team")))
    assert owner_api.get("/api/v1/scope", headers={"X-Synchronex-Scope": foreign["id"]}).status_code == 404
    malformed = owner_api.get("/api/v1/scope", headers={"X-Synchronex-Scope": "nope"})
    assert malformed.status_code == 400
    assert "X-Synchronex-Scope" in malformed.json()["error"]["details"]["fields"]


def test_members_are_added_changed_and_removed(owner_api, client_for, make_user):
    workspace = create_workspace(owner_api)
    member = make_user()
    added = add_member(owner_api, workspace["id"], member.email.upper(), "viewer")
    assert added.status_code == 201
    assert added.json()["role"] == "viewer" and added.json()["user_id"] == str(member.id)
    assert added.headers["Location"] == f"/api/v1/workspaces/{workspace['id']}/members/{member.id}"
    changed = add_member(owner_api, workspace["id"], member.email, "member")
    assert changed.status_code == 200 and changed.json()["role"] == "member"
    assert "Location" not in changed.headers  # only an addition (201) names a new membership
    detail = client_for(member).get(f"/api/v1/workspaces/{workspace['id']}").json()
    assert [(m["email"], m["role"]) for m in detail["members"]][1] == (member.email, "member")
    assert detail["role"] == "member"
    removed = owner_api.delete(f"/api/v1/workspaces/{workspace['id']}/members/{member.id}")
    assert removed.status_code == 204
    assert client_for(member).get(f"/api/v1/workspaces/{workspace['id']}").status_code == 404


def test_member_management_rules(owner_api, client_for, make_user, team_owner):
    workspace = create_workspace(owner_api)
    wid = workspace["id"]
    admin, member, outsider = make_user(), make_user(), make_user()
    add_member(owner_api, wid, admin.email, "admin")
    add_member(owner_api, wid, member.email, "member")
    admin_api, member_api = client_for(admin), client_for(member)
    assert add_member(member_api, wid, outsider.email, "viewer").status_code == 403
    assert add_member(admin_api, wid, outsider.email, "admin").status_code == 403
    assert add_member(admin_api, wid, outsider.email, "viewer").status_code == 201
    assert add_member(client_for(outsider), wid, make_user().email, "viewer").status_code == 403
    assert add_member(client_for(make_user()), wid, outsider.email, "viewer").status_code == 404
    assert add_member(owner_api, wid, "nobody@example.com", "viewer").status_code == 404
    assert add_member(owner_api, wid, outsider.email, "owner").status_code == 400
    assert add_member(owner_api, wid, team_owner.email, "member").status_code == 409
    assert owner_api.delete(f"/api/v1/workspaces/{wid}/members/{team_owner.id}").status_code == 409
    assert member_api.delete(f"/api/v1/workspaces/{wid}/members/{outsider.id}").status_code == 403
    assert admin_api.delete(f"/api/v1/workspaces/{wid}/members/{uuid.uuid4()}").status_code == 404
    assert member_api.delete(f"/api/v1/workspaces/{wid}/members/{member.id}").status_code == 204  # leaving
    assert client_for(make_user()).get(f"/api/v1/workspaces/{wid}").status_code == 404


def test_removed_member_with_a_stored_scope_falls_back_to_personal_clearly(owner_api, client_for, make_user):
    workspace = create_workspace(owner_api)
    member = make_user()
    add_member(owner_api, workspace["id"], member.email, "member")
    member_api = client_for(member)
    assert member_api.patch("/api/v1/scope", json={"workspace_id": workspace["id"]}).json()["scope"] == "team"
    owner_api.delete(f"/api/v1/workspaces/{workspace['id']}/members/{member.id}")
    response = member_api.get("/api/v1/scope")
    assert response.status_code == 200
    assert response.json()["scope"] == "personal"
    assert "no longer available" in response.headers["X-Synchronex-Scope-Notice"]
    assert ActiveScope.objects.get(user=member).workspace is None
    assert "X-Synchronex-Scope-Notice" not in member_api.get("/api/v1/scope").headers


@pytest.mark.parametrize("deleted", ["workspace", "owner account"])
def test_a_stored_workspace_that_was_deleted_falls_back_to_personal_clearly(
    owner_api, client_for, make_user, team_owner, deleted
):
    workspace = create_workspace(owner_api)
    member = make_user()
    add_member(owner_api, workspace["id"], member.email, "member")
    member_api = client_for(member)
    assert member_api.patch("/api/v1/scope", json={"workspace_id": workspace["id"]}).json()["scope"] == "team"
    for _ in range(2):  # remembered between requests until a change stamps the member
        assert member_api.get("/api/v1/scope").json()["scope"] == "team"
    if deleted == "workspace":  # as staff do in the admin
        Space.objects.get(pk=workspace["id"]).delete()
    else:  # the owner's workspaces go with their account
        User.objects.get(pk=team_owner.pk).delete()
    written = member_api.post("/api/v1/memory/decisions", json={"decision": "For the team", "product_name": "Atlas"})
    assert written.status_code == 201 and written.json()["scope"] == "personal"
    assert "no longer available" in written.headers["X-Synchronex-Scope-Notice"]
    assert ActiveScope.objects.get(user=member).workspace_id is None  # the fallback resets the setting
    response = member_api.get("/api/v1/scope")
    assert response.json()["scope"] == "personal" and "X-Synchronex-Scope-Notice" not in response.headers


@pytest.mark.urls("tests.urls")
def test_a_workspace_uses_its_owners_plan(owner_api, client_for, make_user):
    workspace = create_workspace(owner_api)
    free_member = make_user(tier="free")
    add_member(owner_api, workspace["id"], free_member.email, "member")
    api = client_for(free_member)
    assert api.get("/api/v1/_test/pro").status_code == 403
    assert api.get("/api/v1/_test/pro", headers={"X-Synchronex-Scope": workspace["id"]}).status_code == 200


def test_walking_the_workspace_pages_sees_each_workspace_once_when_created_at_ties(owner_api):
    ids = {create_workspace(owner_api, name=f"T{i}")["id"] for i in range(6)}
    Space.objects.filter(pk__in=ids).update(created_at=Space.objects.get(pk=next(iter(ids))).created_at)
    seen = [
        owner_api.get("/api/v1/workspaces", params={"limit": 1, "offset": offset}).json()["results"][0]["id"]
        for offset in range(6)
    ]
    assert sorted(seen) == sorted(ids)


def test_workspace_list_query_count_is_flat(inproc_for, team_owner, django_assert_num_queries):
    from apps.scopes.services import workspace_create

    for n in range(5):
        workspace_create(owner=team_owner, name=f"W{n}", kind="team")
    client = inproc_for(team_owner)
    client.get("/api/v1/workspaces")  # warm: the key's last-used stamp and this minute's counters exist
    # the key lookup (which also counts the request and reads the context stamp), the page with its count
    with django_assert_num_queries(2):
        response = client.get("/api/v1/workspaces")
    assert response.status_code == 200 and response.json()["count"] == 5


def test_only_managers_learn_whether_an_email_has_an_account(owner_api, client_for, make_user):
    wid = create_workspace(owner_api)["id"]
    member, viewer, known = make_user(), make_user(), make_user()
    add_member(owner_api, wid, member.email, "member")
    add_member(owner_api, wid, viewer.email, "viewer")
    for api in (client_for(member), client_for(viewer)):
        unknown = add_member(api, wid, "nobody@example.com", "viewer")
        existing = add_member(api, wid, known.email, "viewer")
        assert unknown.status_code == existing.status_code == 403
        assert unknown.json() == existing.json() and unknown.json()["error"]["code"] == "FORBIDDEN"


def test_only_the_owner_changes_an_admins_role(owner_api, client_for, make_user):
    wid = create_workspace(owner_api)["id"]
    first, second = make_user(), make_user()
    add_member(owner_api, wid, first.email, "admin")
    add_member(owner_api, wid, second.email, "admin")
    first_api = client_for(first)
    demoted = add_member(first_api, wid, second.email, "viewer")
    assert demoted.status_code == 403 and demoted.json()["error"]["code"] == "FORBIDDEN"
    assert first_api.delete(f"/api/v1/workspaces/{wid}/members/{second.id}").status_code == 403
    roles = {m["email"]: m["role"] for m in owner_api.get(f"/api/v1/workspaces/{wid}").json()["members"]}
    assert roles[second.email] == "admin"
    assert add_member(first_api, wid, first.email, "member").json()["role"] == "member"  # stepping down
    assert add_member(owner_api, wid, second.email, "viewer").json()["role"] == "viewer"


def test_an_admin_resending_an_admins_role_changes_nothing_and_is_not_refused(owner_api, client_for, make_user):
    # A retried or repeated request that asks for what is already so: 200, as a second add of the
    # same role by the owner is; only a change of an admin's role (or making one) is the owner's.
    wid = create_workspace(owner_api)["id"]
    first, second = make_user(), make_user()
    add_member(owner_api, wid, first.email, "admin")
    add_member(owner_api, wid, second.email, "admin")
    first_api = client_for(first)
    for email in (first.email, second.email):
        again = add_member(first_api, wid, email, "admin")
        assert again.status_code == 200 and again.json()["role"] == "admin", again.text
    roles = {m["email"]: m["role"] for m in owner_api.get(f"/api/v1/workspaces/{wid}").json()["members"]}
    assert roles[first.email] == roles[second.email] == "admin"
    member = make_user()
    add_member(owner_api, wid, member.email, "member")
    refused = add_member(first_api, wid, member.email, "admin")  # making an admin is still the owner's
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    member_api = client_for(member)
    again = add_member(member_api, wid, member.email, "member")  # managing members is still managers'
    assert again.status_code == 403 and again.json()["error"]["code"] == "FORBIDDEN"


def test_a_workspace_whose_owner_left_the_team_plan_keeps_its_data_but_not_member_management(
    owner_api, client_for, make_user, team_owner
):
    wid = create_workspace(owner_api)["id"]
    admin, member, newcomer = make_user(), make_user(), make_user()
    add_member(owner_api, wid, admin.email, "admin")
    add_member(owner_api, wid, member.email, "member")
    team_owner.tier = "pro"
    team_owner.save(update_fields=["tier"])
    admin_api, member_api, header = client_for(admin), client_for(member), {"X-Synchronex-Scope": wid}
    for api, email, role in ((owner_api, newcomer.email, "viewer"), (admin_api, member.email, "viewer")):
        refused = add_member(api, wid, email, role)
        assert refused.status_code == 403
        assert refused.json()["error"]["code"] == "TIER_REQUIRED"
        assert refused.json()["error"]["details"] == {"required_tier": "team", "current_tier": "pro"}
    assert len(owner_api.get(f"/api/v1/workspaces/{wid}").json()["members"]) == 3
    # Nobody's data is locked away: members still read and write, leave, and can be removed.
    written = member_api.put("/api/v1/memory/identity", json={"identity": {"name": "Acme"}}, headers=header)
    assert written.status_code == 200 and written.json()["scope"] == "team"
    assert owner_api.get("/api/v1/memory/identity", headers=header).json()["identity"]["name"] == "Acme"
    assert member_api.delete(f"/api/v1/workspaces/{wid}/members/{member.id}").status_code == 204
    assert owner_api.delete(f"/api/v1/workspaces/{wid}/members/{admin.id}").status_code == 204
    team_owner.tier = "team"
    team_owner.save(update_fields=["tier"])
    assert add_member(owner_api, wid, newcomer.email, "viewer").status_code == 201


def test_openapi_says_patch_scope_needs_workspace_id(api):
    schema = api.get("/api/v1/openapi.json").json()
    body = schema["paths"]["/api/v1/scope"]["patch"]["requestBody"]
    assert body["required"] is True
    component = body["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert schema["components"]["schemas"][component]["required"] == ["workspace_id"]
