"""The admin for MCP sessions: list with search and filters, read-only facts, no adding."""

from __future__ import annotations

import pytest
from django.test import Client

from apps.mcp.models import McpSession
from apps.mcp.services import session_end, session_register
from apps.scopes.selectors import resolve_active_space

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(make_user):
    staff = make_user(tier="pro", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    return client


def test_sessions_are_listed_searchable_and_filterable(staff_client, user):
    space = resolve_active_space(user, "personal").space
    open_one = session_register(space=space, user=user, actor="t", product_name="Atlas", agent_name="claude-code")
    ended = session_register(space=space, user=user, actor="t", product_name="Beacon", label="docs pass")
    session_end(space=space, session_id=ended.id, summary="Wrote the docs.")

    listing = staff_client.get("/admin/mcp/mcpsession/")
    searched = staff_client.get("/admin/mcp/mcpsession/", {"q": "docs"})
    still_open = staff_client.get("/admin/mcp/mcpsession/", {"ended_at__isempty": "1"})

    assert listing.status_code == 200
    assert list(listing.context["cl"].result_list) == [ended, open_one]
    assert list(searched.context["cl"].result_list) == [ended]
    assert list(still_open.context["cl"].result_list) == [open_one]


def test_a_session_page_shows_it_read_only_and_sessions_cannot_be_added(staff_client, user):
    space = resolve_active_space(user, "personal").space
    session = session_register(space=space, user=user, actor="api_key:x", product_name="Atlas")

    page = staff_client.get(f"/admin/mcp/mcpsession/{session.id}/change/")

    assert page.status_code == 200
    assert b"api_key:x" in page.content
    assert staff_client.get("/admin/mcp/mcpsession/add/").status_code == 403
    assert McpSession.objects.count() == 1
