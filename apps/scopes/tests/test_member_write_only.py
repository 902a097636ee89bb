"""Adding a member with a token that may not read answers only what the write said: not the
member's name, nor when an existing member joined."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from apps.scopes.services import workspace_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def studio(person, make_user):
    person.tier = "team"
    person.save(update_fields=["tier"])
    make_user(email="grace@example.com", name="Grace Hopper")
    return f"/api/v1/workspaces/{workspace_create(owner=person, name='Studio', kind='team').id}/members"


def test_a_write_only_token_is_answered_only_what_it_wrote(studio, oauth_for):
    writer = oauth_for("memory:write")
    added = writer.post(studio, json={"email": "grace@example.com", "role": "member"})
    assert added.status_code == 201, added.text
    assert set(added.json()) == {"user_id", "email", "role"}
    assert added.json()["email"] == "grace@example.com" and added.json()["role"] == "member"
    assert "Grace Hopper" not in added.text

    changed = writer.post(studio, json={"email": "grace@example.com", "role": "viewer"})
    assert changed.status_code == 200 and set(changed.json()) == {"user_id", "email", "role"}


def test_a_token_that_can_read_still_gets_the_member(studio, oauth_for):
    body = oauth_for("memory:read memory:write").post(studio, json={"email": "grace@example.com", "role": "member"})
    assert body.status_code == 201 and body.json()["name"] == "Grace Hopper" and "joined_at" in body.json()


def test_both_answers_fit_the_documented_schema_and_only_their_own_branch(studio, oauth_for, api):
    document = api.get("/api/v1/openapi.json").json()
    path = "/api/v1/workspaces/{workspace_id}/members"
    schema = document["paths"][path]["post"]["responses"]["201"]["content"]["application/json"]["schema"]

    def fits(body, schema) -> bool:
        return Draft202012Validator({**document, **schema}, format_checker=FormatChecker()).is_valid(body)

    written = oauth_for("memory:write").post(studio, json={"email": "grace@example.com", "role": "member"}).json()
    whole = oauth_for("memory:read memory:write").post(studio, json={"email": "grace@example.com", "role": "viewer"})
    whole = whole.json()
    assert fits(written, schema) and fits(whole, schema)
    assert fits(written, {"$ref": "#/components/schemas/MemberWritten"})
    assert not fits(whole, {"$ref": "#/components/schemas/MemberWritten"})
    assert not fits(written, {"$ref": "#/components/schemas/Member"})
