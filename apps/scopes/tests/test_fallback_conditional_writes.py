"""A conditional write after the stored scope fell back to personal is refused (SPEC §1: lost
updates must be impossible): its If-Match, If-None-Match or ``expected_version`` was read in the
workspace, and ETags are bare versions, so it could match a personal resource the client never read."""

import pytest

from apps.mcp.tests.conftest import Mcp
from apps.scopes.tests.test_scope_and_workspaces import add_member, create_workspace

pytestmark = pytest.mark.django_db(transaction=True)

STATE = "/api/v1/memory/product/Shared/state"
KERNEL = "/api/v1/memory/identity"
NOTICE = "X-Synchronex-Scope-Notice"


@pytest.fixture
def removed(client_for, make_user):
    """A member whose stored scope is a workspace, just removed from it: ``(member's client, its
    personal product at version 1, the workspace id)``."""
    owner_api = client_for(make_user(tier="team"))
    workspace = create_workspace(owner_api)["id"]
    member = make_user()
    add_member(owner_api, workspace, member.email, "member")
    member_api = client_for(member)
    personal = {"X-Synchronex-Scope": "personal"}
    assert member_api.post(STATE, json={"what_works": ["mine"]}, headers=personal).headers["ETag"] == '"1"'
    shared = owner_api.post(STATE, json={"what_works": ["shared"]}, headers={"X-Synchronex-Scope": workspace})
    assert shared.headers["ETag"] == '"1"'
    assert member_api.patch("/api/v1/scope", json={"workspace_id": workspace}).status_code == 200
    read = member_api.get(STATE)
    assert (read.json()["scope"], read.headers["ETag"]) == ("team", '"1"')
    assert owner_api.delete(f"/api/v1/workspaces/{workspace}/members/{member.id}").status_code == 204
    return member_api, workspace


def _refused(response, sent: str) -> None:
    assert response.status_code == 412, response.text
    error = response.json()["error"]
    assert error["code"] == "PRECONDITION_FAILED" and sent in error["message"], error
    assert "personal" in error["message"] and "details" not in error
    assert "ETag" not in response.headers and "no longer available" in response.headers[NOTICE]


@pytest.mark.parametrize("headers", [{"If-Match": '"1"'}, {"If-Match": "*"}, {"If-None-Match": "*"}])
def test_a_product_write_with_a_condition_after_the_fallback_is_precondition_failed(removed, headers):
    member_api, _ = removed
    _refused(member_api.post(STATE, json={"what_works": ["meant for the workspace"]}, headers=headers), *headers)
    mine = member_api.get(STATE)
    assert (mine.json()["scope"], mine.json()["what_works"], mine.headers["ETag"]) == ("personal", ["mine"], '"1"')
    # Read in the personal scope now (no notice any more), the same write applies there.
    assert NOTICE not in mine.headers
    written = member_api.post(STATE, json={"what_works": ["edited"]}, headers={"If-Match": mine.headers["ETag"]})
    assert written.status_code == 200 and written.json()["scope"] == "personal", written.text


def test_a_kernel_write_with_if_match_after_the_fallback_is_precondition_failed(removed):
    member_api, _ = removed
    _refused(member_api.put(KERNEL, json={"identity": {"name": "Team"}}, headers={"If-Match": '"0"'}), "If-Match")
    kernel = member_api.get(KERNEL).json()
    assert (kernel["scope"], kernel["version"], kernel["identity"]) == ("personal", 0, None)


def test_a_kernel_write_with_if_none_match_after_the_fallback_is_precondition_failed(removed):
    member_api, _ = removed
    refused = member_api.put(KERNEL, json={"identity": {"name": "Team"}}, headers={"If-None-Match": "*"})
    _refused(refused, "If-None-Match")
    assert member_api.get(KERNEL).json()["version"] == 0


def test_a_write_without_a_condition_after_the_fallback_still_lands_in_personal(removed):
    member_api, _ = removed
    written = member_api.post(STATE, json={"what_works": ["unconditional"]})
    assert written.status_code == 200 and written.json()["scope"] == "personal", written.text
    assert "no longer available" in written.headers[NOTICE]


def test_the_scope_header_naming_the_lost_workspace_is_not_found_not_a_fallback(removed):
    member_api, workspace = removed
    response = member_api.post(
        STATE, json={"what_works": ["x"]}, headers={"X-Synchronex-Scope": workspace, "If-Match": '"1"'}
    )
    assert response.status_code == 404 and NOTICE not in response.headers, response.text


def test_an_mcp_expected_version_after_the_fallback_is_precondition_failed(removed, base_url):
    member_api, _ = removed
    mcp = Mcp(base_url, member_api.token)
    error = mcp.tool_error("update_product_state", {"product_name": "Shared", "expected_version": 1, "what_works": []})
    assert error["code"] == "PRECONDITION_FAILED" and "expected_version" in error["message"], error
    assert member_api.get(STATE).json()["what_works"] == ["mine"]
