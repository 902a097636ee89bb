"""``GET /api/v1/sessions``: the MCP sessions of the active scope, paged."""

from __future__ import annotations

import pytest

from apps.mcp.models import McpSession
from apps.mcp.services import session_register
from apps.scopes.models import Membership
from apps.scopes.selectors import resolve_active_space
from apps.scopes.services import member_put, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)


def open_session(user, product: str, *, space=None, **fields):
    space = space or resolve_active_space(user, "personal").space
    return session_register(space=space, user=user, actor="test", product_name=product, **fields)


def test_sessions_are_listed_newest_first_with_their_state(write_api, user, mcp_for):
    first = open_session(user, "Atlas", agent_name="claude-code")
    client = mcp_for(user)
    second = client.tool("register_session", {"product_name": "Beacon", "label": "docs"})
    client.tool("end_session", {"session_id": second["session_id"], "summary": "Wrote the docs."})

    response = write_api.get("/api/v1/sessions")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and body["scope"] == "personal" and body["next_offset"] is None
    latest, older = body["results"]
    assert latest["id"] == second["session_id"]
    assert latest["status"] == "ended" and latest["summary"] == "Wrote the docs."
    assert latest["decisions_captured"] == 0 and latest["ended_at"].endswith("Z")
    assert older["id"] == str(first.id)
    assert older == {
        **older,
        "product_name": "Atlas",
        "agent_name": "claude-code",
        "status": "open",
        "ended_at": None,
        "decisions_captured": None,
    }


def test_sessions_are_paged(write_api, user):
    for n in range(3):
        open_session(user, f"P{n}")

    page = write_api.get("/api/v1/sessions", params={"limit": 2, "offset": 1}).json()

    assert [s["product_name"] for s in page["results"]] == ["P1", "P0"]
    assert page["count"] == 3 and page["limit"] == 2 and page["next_offset"] is None
    assert write_api.get("/api/v1/sessions", params={"limit": 1}).json()["next_offset"] == 1


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}])
def test_bad_paging_is_a_validation_error(write_api, params):
    response = write_api.get("/api/v1/sessions", params=params)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_other_users_and_other_scopes_sessions_are_invisible(client_for, make_user):
    me, other = make_user(tier="team"), make_user(tier="pro")
    open_session(other, "Theirs")
    workspace = workspace_create(owner=me, name="Studio", kind="team")
    open_session(me, "Shared", space=workspace)
    open_session(me, "Mine")
    api = client_for(me, "read")

    personal = api.get("/api/v1/sessions").json()
    team = api.get("/api/v1/sessions", headers={"X-Synchronex-Scope": str(workspace.id)}).json()

    assert [s["product_name"] for s in personal["results"]] == ["Mine"]
    assert [s["product_name"] for s in team["results"]] == ["Shared"] and team["scope"] == "team"


def test_workspace_members_see_the_workspace_sessions(client_for, make_user):
    owner, member = make_user(tier="team"), make_user(tier="pro")
    workspace = workspace_create(owner=owner, name="Studio", kind="team")
    member_put(actor_membership=Membership.objects.get(space=workspace, user=owner), user=member, role="viewer")
    open_session(owner, "Shared", space=workspace)

    body = client_for(member, "read").get("/api/v1/sessions", headers={"X-Synchronex-Scope": str(workspace.id)}).json()

    assert [s["product_name"] for s in body["results"]] == ["Shared"]


def test_listing_needs_a_token(api):
    response = api.get("/api/v1/sessions")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "UNAUTHORIZED"


def test_listing_runs_the_same_queries_however_many_sessions(inproc_for, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = inproc_for(user, "read")
    client.get("/api/v1/sessions")  # the key's first use records last_used_at once
    counts = []
    for total in (1, 6):
        while McpSession.objects.count() < total:
            open_session(user, f"P{McpSession.objects.count()}")
        with CaptureQueriesContext(connection) as captured:
            response = client.get("/api/v1/sessions")
        assert response.json()["count"] == total
        counts.append(len(captured))

    assert counts[0] == counts[1]


def test_loading_the_kernel_after_the_end_leaves_the_ended_session_as_it_was(write_api, user, mcp_for):
    client = mcp_for(user)
    session = client.tool("register_session", {"product_name": "Atlas"})
    client.tool("get_identity_kernel", {"session_id": session["session_id"], "client_type": "cursor"})
    client.tool("end_session", {"session_id": session["session_id"], "summary": "Done."})
    (before,) = write_api.get("/api/v1/sessions").json()["results"]

    # The kernel is still answered (with the session named); only the ended session is not stamped.
    kernel = client.tool("get_identity_kernel", {"session_id": session["session_id"], "client_type": "claude-code"})

    assert kernel["session"] == {"session_id": session["session_id"], "product_name": "Atlas"}
    (after,) = write_api.get("/api/v1/sessions").json()["results"]
    assert after == before
    assert after["status"] == "ended" and after["client_type"] == "cursor"
    assert after["kernel_loaded_at"] <= after["ended_at"]


def test_an_open_session_records_its_latest_kernel_load(write_api, user, mcp_for):
    client = mcp_for(user)
    session = client.tool("register_session", {"product_name": "Atlas"})
    client.tool("get_identity_kernel", {"session_id": session["session_id"]})
    (first,) = write_api.get("/api/v1/sessions").json()["results"]

    client.tool("get_identity_kernel", {"session_id": session["session_id"], "client_type": "cursor"})

    (second,) = write_api.get("/api/v1/sessions").json()["results"]
    assert first["kernel_loaded_at"] < second["kernel_loaded_at"] and second["client_type"] == "cursor"


def test_ending_an_ended_session_names_its_end_in_utc_with_z(write_api, user, mcp_for):
    client = mcp_for(user)
    session = client.tool("register_session", {"product_name": "Atlas"})
    client.tool("end_session", {"session_id": session["session_id"], "summary": "Done."})

    error = client.tool_error("end_session", {"session_id": session["session_id"], "summary": "Again."})

    assert error["code"] == "CONFLICT"
    (listed,) = write_api.get("/api/v1/sessions").json()["results"]
    assert error["details"] == {"ended_at": listed["ended_at"]} and listed["ended_at"].endswith("Z")
