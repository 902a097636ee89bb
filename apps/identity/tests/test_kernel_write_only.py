"""A token that may write the Identity Kernel but not read it learns nothing of a kernel it did not send."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from apps.scopes.models import Membership, Role
from apps.scopes.services import member_put, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/memory/identity"
WRITE_ONLY_KEYS = {"version", "updated_at", "scope"}
SECRETS = {
    "identity": {"name": "Ada", "company": "Secret Co"},
    "constraints": {"always": ["Cite sources"], "never": ["Share the roadmap"]},
}
ROLE_ONLY = {"name": None, "company": None, "location": None, "timezone": None, "role": "cto", "industry": None}


@pytest.fixture
def kernel(client_for, person):
    assert client_for(person).put(URL, json=SECRETS).status_code == 200


@pytest.fixture
def studio(make_user, person, client_for):
    """A team workspace whose layer another member wrote; ``person`` is a member there."""
    owner = make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Studio", kind="team")
    member_put(actor_membership=Membership.objects.get(space=workspace, role=Role.OWNER), user=person, role="member")
    header = {"X-Synchronex-Scope": str(workspace.id)}
    layer = {"constraints": {"never": ["Share client data"]}, "products": [{"name": "Client X"}]}
    assert client_for(owner).put(URL, json=layer, headers=header).status_code == 200
    return header


def test_a_write_only_token_is_answered_only_the_sections_it_sent(kernel, oauth_for):
    writer = oauth_for("memory:write")
    assert writer.get(URL).status_code == 403

    response = writer.put(URL, json={"identity": {"role": " cto "}})

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == WRITE_ONLY_KEYS | {"identity"}
    assert body["identity"] == ROLE_ONLY  # as stored (trimmed), the section as the PUT replaced it
    assert body["version"] == 2 and body["scope"] == "personal" and response.headers["ETag"] == '"2"'
    assert "roadmap" not in response.text and "Cite" not in response.text

    cleared = writer.put(URL, json={"constraints": None, "products": []})
    assert cleared.status_code == 200, cleared.text
    assert cleared.json() == {**cleared.json(), "constraints": None, "products": None}
    assert set(cleared.json()) == WRITE_ONLY_KEYS | {"constraints", "products"}
    assert cleared.json()["version"] == 3 and cleared.headers["ETag"] == '"3"'


def test_in_a_workspace_a_write_only_token_sees_neither_layer_it_did_not_send(studio, kernel, oauth_for):
    response = oauth_for("memory:write").put(URL, json={"identity": {"role": "cto"}}, headers=studio)

    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == WRITE_ONLY_KEYS | {"identity"}
    # The workspace layer as written: not the layered view (whose name would be the personal "Ada").
    assert body["identity"] == ROLE_ONLY
    assert body["scope"] == "team" and body["version"] == 2 and response.headers["ETag"] == '"2"'
    assert "client data" not in response.text and "Client X" not in response.text and "roadmap" not in response.text


def test_a_token_that_can_read_still_gets_the_effective_kernel(studio, kernel, oauth_for):
    body = oauth_for("memory:read memory:write").put(URL, json={"identity": {"role": "cto"}}, headers=studio).json()
    assert body["identity"]["name"] == "Ada" and body["identity"]["role"] == "cto"
    assert body["constraints"]["never"] == ["Share the roadmap", "Share client data"]
    assert "Share client data" in body["injection_block"]


def test_both_answers_fit_the_documented_schema_and_only_their_own_branch(kernel, oauth_for, api):
    document = api.get("/api/v1/openapi.json").json()
    schema = document["paths"][URL]["put"]["responses"]["200"]["content"]["application/json"]["schema"]
    schemas = document["components"]["schemas"]

    def fits(body, schema) -> bool:
        # The OpenAPI document as the root, so the schema's $refs resolve inside it.
        return Draft202012Validator({**document, **schema}, format_checker=FormatChecker()).is_valid(body)

    written = oauth_for("memory:write").put(URL, json={"identity": {"role": "cto"}, "constraints": None}).json()
    whole = oauth_for("memory:read memory:write").put(URL, json={"identity": {"role": "cfo"}}).json()
    assert fits(written, schema) and fits(whole, schema)
    assert fits(written, {"$ref": "#/components/schemas/KernelWritten"})
    assert not fits(whole, {"$ref": "#/components/schemas/KernelWritten"})  # oneOf: one branch each
    assert not fits(written, {"$ref": "#/components/schemas/Kernel"})
    assert set(schemas["KernelWritten"]["required"]) == WRITE_ONLY_KEYS
