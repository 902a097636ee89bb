"""Setting the active scope with a token that may not read scopes answers only the scope it set."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from apps.scopes.models import Membership, Role
from apps.scopes.services import member_put, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/scope"


@pytest.fixture
def workspaces(make_user, person):
    """Two workspaces of another owner: ``person`` is a member of Studio and a viewer of the other."""
    owner = make_user(tier="team")
    studio = workspace_create(owner=owner, name="Studio", kind="team")
    hidden = workspace_create(owner=owner, name="Secret Client", kind="agency")
    for space, role in ((studio, "member"), (hidden, "viewer")):
        member_put(actor_membership=Membership.objects.get(space=space, role=Role.OWNER), user=person, role=role)
    return {"studio": str(studio.id), "hidden": str(hidden.id)}


def test_a_write_only_token_learns_only_the_scope_it_set(workspaces, oauth_for):
    writer = oauth_for("memory:write")
    assert writer.get(URL).status_code == 403

    response = writer.patch(URL, json={"workspace_id": workspaces["studio"]})

    assert response.status_code == 200, response.text
    assert response.json() == {"workspace_id": workspaces["studio"], "scope": "team"}
    assert "Secret Client" not in response.text and "viewer" not in response.text

    back = writer.patch(URL, json={"workspace_id": None})
    assert back.status_code == 200 and back.json() == {"workspace_id": None, "scope": "personal"}


def test_a_token_that_can_read_still_gets_the_whole_scope(workspaces, oauth_for):
    body = oauth_for("memory:read memory:write").patch(URL, json={"workspace_id": workspaces["studio"]}).json()
    assert body["workspace"] == {"id": workspaces["studio"], "name": "Studio", "kind": "team", "role": "member"}
    assert {ref["name"] for ref in body["available"]} == {"Studio", "Secret Client"}


def test_both_answers_fit_the_documented_schema_and_only_their_own_branch(workspaces, oauth_for, api):
    document = api.get("/api/v1/openapi.json").json()
    schema = document["paths"][URL]["patch"]["responses"]["200"]["content"]["application/json"]["schema"]
    schemas = document["components"]["schemas"]

    def fits(body, schema) -> bool:
        return Draft202012Validator({**document, **schema}, format_checker=FormatChecker()).is_valid(body)

    written = oauth_for("memory:write").patch(URL, json={"workspace_id": workspaces["studio"]}).json()
    whole = oauth_for("memory:read memory:write").patch(URL, json={"workspace_id": None}).json()
    assert fits(written, schema) and fits(whole, schema)
    assert fits(written, {"$ref": "#/components/schemas/ScopeSet"})
    assert not fits(whole, {"$ref": "#/components/schemas/ScopeSet"})  # oneOf: one branch each
    assert not fits(written, {"$ref": "#/components/schemas/Scope"})
    assert set(schemas["ScopeSet"]["required"]) == {"workspace_id", "scope"}
