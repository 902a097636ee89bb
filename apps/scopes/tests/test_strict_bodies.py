"""Scope and workspace bodies take JSON strings only: no number becomes a workspace id or a name."""

from __future__ import annotations

import uuid

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def _fields(response) -> dict:
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    return response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize("value", [123, True, 2**128 - 1, 1.5, ["x"]])
def test_a_workspace_id_that_is_not_a_string_is_a_validation_error(write_api, value):
    assert list(_fields(write_api.patch("/api/v1/scope", json={"workspace_id": value}))) == ["workspace_id"]


def test_the_body_and_the_header_take_the_same_spellings_of_a_workspace_id(client_for, make_user):
    api = client_for(make_user(tier="team"))
    workspace = api.post("/api/v1/workspaces", json={"name": "Crew", "kind": "team"}).json()["id"]
    spellings = [workspace, f" {workspace} ", uuid.UUID(workspace).hex, "{" + workspace + "}"]
    for spelling in spellings:
        # (HTTP drops a header value's surrounding whitespace; the body's is trimmed as the header's.)
        header = {"X-Synchronex-Scope": spelling.strip()}
        assert api.get("/api/v1/scope", headers=header).json()["workspace_id"] == workspace
        patched = api.patch("/api/v1/scope", json={"workspace_id": spelling})
        assert patched.status_code == 200, patched.text
        assert patched.json()["workspace_id"] == workspace
    assert "workspace_id" in _fields(api.patch("/api/v1/scope", json={"workspace_id": "personal-ish"}))
    assert api.patch("/api/v1/scope", json={"workspace_id": None}).json()["scope"] == "personal"


@pytest.mark.parametrize("name", [123, True, ["Crew"], "a\nb\u202e", "tab\there", "\x00"])
def test_a_workspace_name_must_be_a_string_without_control_characters(client_for, make_user, name):
    api = client_for(make_user(tier="team"))
    assert list(_fields(api.post("/api/v1/workspaces", json={"name": name, "kind": "team"}))) == ["name"]
    assert api.get("/api/v1/workspaces").json()["count"] == 0


def test_a_workspace_name_is_trimmed_and_may_hold_any_script(client_for, make_user):
    api = client_for(make_user(tier="team"))
    created = api.post("/api/v1/workspaces", json={"name": "  Équipe 東京  ", "kind": "agency"})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "Équipe 東京"
