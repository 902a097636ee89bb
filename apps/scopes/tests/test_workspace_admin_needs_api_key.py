"""Creating workspaces and managing members needs an API key with the write scope: no OAuth scope
grants it (SPEC §2's table names none, and the consent page never asks for it), so an app a user
connected cannot share their workspaces with anyone, nor remove colleagues."""

from __future__ import annotations

import pytest

from apps.scopes.models import Membership, Role, Space
from apps.scopes.services import workspace_create

pytestmark = pytest.mark.django_db(transaction=True)

EVERY_SCOPE = "memory:read memory:write decisions:read decisions:write costs:read byok:read byok:write"


@pytest.fixture
def studio(person, make_user):
    person.tier = "team"
    person.save(update_fields=["tier"])
    workspace = workspace_create(owner=person, name="Studio", kind="team")
    colleague = make_user(email="grace@example.com")
    Membership.objects.create(space=workspace, user=colleague, role=Role.MEMBER)
    return workspace


def assert_refused_to_oauth(response) -> None:
    assert response.status_code == 403, response.text
    error = response.json()["error"]
    assert error["code"] == "FORBIDDEN"
    assert "API key" in error["message"] and "write" in error["message"]
    assert error["details"] == {"required_scopes": []}  # no OAuth scope would open it
    # Not a step-up challenge: asking the user for more scopes would not help.
    assert "insufficient_scope" not in response.headers.get("WWW-Authenticate", "")


def test_an_oauth_token_cannot_create_a_workspace(studio, oauth_for):
    response = oauth_for(EVERY_SCOPE).post("/api/v1/workspaces", json={"name": "AppMade", "kind": "team"})

    assert_refused_to_oauth(response)
    assert not Space.objects.filter(name="AppMade").exists()


def test_an_oauth_token_cannot_add_re_role_or_remove_members(studio, oauth_for, make_user):
    outsider = make_user(email="outsider@example.com")
    app = oauth_for(EVERY_SCOPE)
    members = f"/api/v1/workspaces/{studio.id}/members"
    colleague = Membership.objects.get(space=studio, user__email="grace@example.com")

    assert_refused_to_oauth(app.post(members, json={"email": outsider.email, "role": "admin"}))
    assert_refused_to_oauth(app.post(members, json={"email": "grace@example.com", "role": "admin"}))
    assert_refused_to_oauth(app.delete(f"{members}/{colleague.user_id}"))

    assert not Membership.objects.filter(space=studio, user=outsider).exists()
    colleague.refresh_from_db()
    assert colleague.role == Role.MEMBER


def test_an_oauth_token_still_reads_workspaces_and_sets_the_scope(studio, oauth_for):
    app = oauth_for("memory:read memory:write")

    assert app.get("/api/v1/workspaces").json()["count"] == 1
    assert app.get(f"/api/v1/workspaces/{studio.id}/members").json()["count"] == 2
    assert app.patch("/api/v1/scope", json={"workspace_id": str(studio.id)}).status_code == 200


def test_a_write_key_still_manages_workspaces_and_a_read_key_lacks_the_write_scope(studio, person, client_for):
    members = f"/api/v1/workspaces/{studio.id}/members"
    reader = client_for(person, scope="read").post(members, json={"email": "grace@example.com", "role": "viewer"})
    assert reader.status_code == 403 and reader.json()["error"]["details"] == {"required_scopes": ["memory:write"]}

    writer = client_for(person)
    assert writer.post("/api/v1/workspaces", json={"name": "Second", "kind": "agency"}).status_code == 201
    changed = writer.post(members, json={"email": "grace@example.com", "role": "viewer"})
    assert changed.status_code == 200 and changed.json()["name"] is not None


def test_the_document_offers_no_oauth_scope_for_workspace_administration(api):
    document = api.get("/api/v1/openapi.json").json()
    members = "/api/v1/workspaces/{workspace_id}/members"
    for path, method in (("/api/v1/workspaces", "post"), (members, "post"), (members + "/{user_id}", "delete")):
        operation = document["paths"][path][method]
        assert operation["security"] == [{"bearer": []}], (path, method)
        assert "an OAuth token" in operation["responses"]["403"]["description"], (path, method)
    assert {"oauth2": ["memory:read"]} in document["paths"]["/api/v1/workspaces"]["get"]["security"]
