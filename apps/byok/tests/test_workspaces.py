"""BYOK in workspaces: credentials belong to the active scope; viewers read but never write."""

from __future__ import annotations

import pytest

from apps.byok.tests.helpers import URL, fresh_key
from apps.scopes.models import Membership
from apps.scopes.services import workspace_create

pytestmark = pytest.mark.django_db(transaction=True)


def test_workspace_credentials_stay_in_the_workspace_and_viewers_cannot_write(client_for, make_user):
    owner, viewer = make_user(tier="team"), make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Acme", kind="team")
    Membership.objects.create(space=workspace, user=viewer, role="viewer")
    in_workspace = {"X-Synchronex-Scope": str(workspace.id)}
    owner_api, viewer_api = client_for(owner), client_for(viewer)

    created = owner_api.post(
        URL, json={"service": "openai", "label": "shared", "key": fresh_key()}, headers=in_workspace
    )
    assert created.status_code == 201, created.text
    assert created.json()["scope"] == "team"
    credential_id = created.json()["id"]

    listed = viewer_api.get(URL, headers=in_workspace).json()
    assert listed["scope"] == "team" and [item["id"] for item in listed["results"]] == [credential_id]
    assert owner_api.get(URL).json()["count"] == 0  # the owner's personal scope
    # From the personal scope the workspace's credential does not exist.
    assert owner_api.delete(f"{URL}/{credential_id}").status_code == 404

    refused = viewer_api.post(URL, json={"service": "openai", "label": "v", "key": fresh_key()}, headers=in_workspace)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    refused = viewer_api.delete(f"{URL}/{credential_id}", headers=in_workspace)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    assert owner_api.delete(f"{URL}/{credential_id}", headers=in_workspace).status_code == 204
