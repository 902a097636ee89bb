"""``get_identity_kernel`` is a read: only a caller who may write records the load on a session."""

from __future__ import annotations

import pytest

from apps.scopes.models import Membership, Role
from apps.scopes.services import member_put, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)

SESSIONS = "/api/v1/sessions"


@pytest.fixture
def workspace(make_user, client_for, mcp_for):
    """Workspace W: a member with an open session on ProdW, and a viewer."""
    owner, member, viewer = (make_user(tier="team") for _ in range(3))
    space = workspace_create(owner=owner, name="W", kind="team")
    owner_membership = Membership.objects.get(space=space, role=Role.OWNER)
    member_put(actor_membership=owner_membership, user=member, role="member")
    member_put(actor_membership=owner_membership, user=viewer, role="viewer")
    header = {"X-Synchronex-Scope": str(space.id)}
    kernel = client_for(member).put("/api/v1/memory/identity", json={"identity": {"role": "cto"}}, headers=header)
    assert kernel.status_code == 200, kernel.text
    session = mcp_for(member).tool("register_session", {"product_name": "ProdW"}, headers=header)
    return {"member": member, "viewer": viewer, "header": header, "session_id": session["session_id"]}


def listed(client_for, workspace) -> dict:
    (session,) = client_for(workspace["member"]).get(SESSIONS, headers=workspace["header"]).json()["results"]
    return session


@pytest.mark.parametrize("who,key_scope", [("viewer", "write"), ("member", "read")], ids=["viewer", "read-only key"])
def test_a_caller_who_may_not_write_gets_the_kernel_and_leaves_the_session_alone(
    workspace, client_for, mcp_for, who, key_scope
):
    before = listed(client_for, workspace)
    reader = mcp_for(workspace[who], key_scope)
    arguments = {"session_id": workspace["session_id"], "client_type": "viewer-wrote-this"}

    body = reader.tool("get_identity_kernel", arguments, headers=workspace["header"])

    assert body["identity"]["role"] == "cto" and "cto" in body["injection_block"]
    assert body["session"] == {"session_id": workspace["session_id"], "product_name": "ProdW"}
    after = listed(client_for, workspace)
    assert after == before
    assert after["kernel_loaded_at"] is None and after["client_type"] != "viewer-wrote-this"


def test_a_member_who_may_write_records_the_load(workspace, client_for, mcp_for):
    arguments = {"session_id": workspace["session_id"], "client_type": "cursor"}

    mcp_for(workspace["member"]).tool("get_identity_kernel", arguments, headers=workspace["header"])

    after = listed(client_for, workspace)
    assert after["kernel_loaded_at"] is not None and after["client_type"] == "cursor"
