"""Admin pages stay bounded on large data: a crowded workspace's page and memory overview, and the
lists of the big per-space tables (their order served by an index, no date scan of the whole table).
"""

from __future__ import annotations

import re
import uuid

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.models import User
from apps.identity.services import kernel_update
from apps.scopes.models import Membership, Space
from apps.scopes.services import space_ensure_personal, workspace_create
from tests.test_admin import build_world

pytestmark = pytest.mark.django_db

MEMBERS_SHOWN = 20  # members a workspace's page and its overview's picker show


def _crowd(workspace: Space, n: int) -> list[User]:
    users = User.objects.bulk_create(User(email=f"crowd-{i:04d}-{uuid.uuid4().hex[:6]}@example.com") for i in range(n))
    Membership.objects.bulk_create(Membership(space=workspace, user=user, role="member") for user in users)
    return users


@pytest.fixture
def workspace():
    owner = User.objects.create_user(email="owner-big@example.com", tier="team")
    return workspace_create(owner=owner, name="Big team", kind="team")


def test_a_workspace_page_shows_its_first_members_their_count_and_a_link_to_all(staff, workspace):
    _crowd(workspace, 60)
    url = reverse("admin:scopes_space_change", args=[workspace.pk])
    html = staff.get(url).content.decode()
    changes = set(re.findall(r"/admin/scopes/membership/[0-9a-f-]{36}/change/", html))
    assert len(changes) == MEMBERS_SHOWN  # not 61 rows
    every = f"{reverse('admin:scopes_membership_changelist')}?space={workspace.pk}"
    assert every in html and "61 members" in html
    listed = staff.get(every)
    assert listed.status_code == 200 and listed.context["cl"].result_count == 61
    # The page does the same work with three times the members.
    staff.get(url)
    with CaptureQueriesContext(connection) as before:
        small = staff.get(url).content.decode()
    _crowd(workspace, 120)
    with CaptureQueriesContext(connection) as after:
        large = staff.get(url).content.decode()
    assert len(after) == len(before)
    assert abs(len(large) - len(small)) < 100  # the count's digits and the CSRF token


def test_the_overview_picks_a_member_by_email_or_id_without_listing_every_member(staff, workspace):
    members = _crowd(workspace, 60)
    chosen = members[42]
    kernel_update(space=workspace, changes={"constraints": {"always": ["Ship small"]}}, actor="setup")
    kernel_update(
        space=space_ensure_personal(user=chosen), changes={"constraints": {"always": ["Chosen one"]}}, actor="setup"
    )
    url = reverse("admin:scopes_space_overview", args=[workspace.pk])
    html = staff.get(url).content.decode()
    assert html.count("<option") <= MEMBERS_SHOWN
    assert "Ship small" in html and "Chosen one" not in html  # the owner's view by default
    for given in (chosen.email.upper(), str(chosen.pk)):
        seen = staff.get(url, {"member": given})
        assert seen.context["kernel"].seen_as == chosen, given
        assert "Chosen one" in seen.content.decode() and "Ship small" in seen.content.decode()
    stranger = staff.get(url, {"member": "nobody@example.com"})
    assert stranger.status_code == 200 and stranger.context["kernel"].seen_as == workspace.owner
    assert "No member nobody@example.com in this workspace" in stranger.content.decode()
    # The same number of queries however many members.
    staff.get(url, {"member": chosen.email})
    with CaptureQueriesContext(connection) as before:
        staff.get(url, {"member": chosen.email})
    _crowd(workspace, 100)
    with CaptureQueriesContext(connection) as after:
        staff.get(url, {"member": chosen.email})
    assert len(after) == len(before)


def test_the_overview_takes_a_member_with_a_nul_character_as_no_member(staff, workspace):
    """PostgreSQL text holds no NUL, so comparing an email with one was a database error (a 500)."""
    url = reverse("admin:scopes_space_overview", args=[workspace.pk])
    for given in ("\x00", "a\x00b@example.com"):
        page = staff.get(url, {"member": given})
        assert page.status_code == 200, repr(given)
        assert page.context["kernel"].seen_as == workspace.owner and page.context["member_unknown"] == given


BIG_TABLES = [
    "decisions.Decision",
    "ingest.Signal",
    "memory.Memory",
    "mcp.McpSession",
    "identity.KernelRevision",
    "costs.CostEvent",
]


def _plan(queryset) -> str:
    # The test tables are tiny, so the planner would read them whole whatever the indexes: with
    # sequential scans priced out, a plan still sorting every row means no index gives the order.
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    try:
        return queryset.explain()
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = on")


@pytest.mark.parametrize("label", BIG_TABLES)
def test_big_lists_are_read_in_index_order_and_drill_down_by_date_only_in_a_space(staff, label):
    world = build_world("one")
    build_world("two")
    model = next(model for model in admin.site._registry if model._meta.label == label)
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")

    with CaptureQueriesContext(connection) as queries:
        response = staff.get(url)
    assert response.status_code == 200
    dates = [q["sql"] for q in queries.captured_queries if "DATE_TRUNC" in q["sql"]]
    assert not dates, dates  # a DISTINCT over every row of the table
    changelist = response.context["cl"]
    ordering = changelist.queryset.query.order_by  # the list's order, as Django made it total
    plan = _plan(model._default_manager.order_by(*ordering)[: changelist.list_per_page])
    # An index gives the order (an incremental sort only breaks ties within its leading column).
    assert not re.search(r"(^|->)\s*Sort\s+\(", plan, re.MULTILINE), plan

    if any(field.name == "space" for field in model._meta.get_fields()):
        in_space = staff.get(url, {"space": str(world.personal.pk)})
        assert in_space.status_code == 200
        assert in_space.context["cl"].date_hierarchy  # bounded by the space's own index


def test_a_date_still_filters_a_list_without_its_drill_down(staff):
    world = build_world("one")
    decision = world.objects["decisions.Decision"]
    day = decision.decided_at
    url = reverse("admin:decisions_decision_changelist")
    found = staff.get(url, {"decided_at__year": day.year, "decided_at__month": day.month, "decided_at__day": day.day})
    assert found.context["cl"].result_count == 2
    assert staff.get(url, {"decided_at__year": day.year - 1}).context["cl"].result_count == 0
