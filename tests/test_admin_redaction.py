"""A BYOK key pasted into stored memory never shows on an admin page (SPEC §9): it reads
``[REDACTED:api_key]`` there, as in exports and MCP answers, with the keys of the row's space
loaded once per page (however many rows or spaces a list shows).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.accounts.services import user_create
from apps.byok.services import byok_credential_create
from apps.byok.tests.helpers import fresh_key
from apps.costs.services import cost_event_record
from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.identity.models import Kernel
from apps.identity.services import kernel_update
from apps.ingest.models import Signal
from apps.ingest.services import signals_ingest
from apps.mcp.services import session_end, session_register
from apps.memory.services import memory_create
from apps.products.services import product_ensure, product_state_write
from apps.scopes.models import Membership
from apps.scopes.services import member_put, space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db

REDACTED = "[REDACTED:api_key]"


@dataclass
class Pasted:
    key: str
    space: object
    rows: dict


def _paste_everywhere(tag: str) -> Pasted:
    """A user whose personal space holds a BYOK key, pasted into each kind of stored memory."""
    owner = user_create(email=f"paster-{tag}@example.com", tier="pro")
    space = space_ensure_personal(user=owner)
    key = fresh_key("openai")
    byok_credential_create(space=space, service="openai", label="Main", key=key)
    kernel = kernel_update(
        space=space,
        changes={
            "constraints": {"never": [f"Share {key}"]},
            "products": [{"name": "Atlas", "status": "active", "summary": f"Runs on {key}"}],
        },
        actor="setup",
    )
    product, _ = product_state_write(
        space=space,
        name="Atlas",
        changes={"what_works": [f"Calls with {key}"], "next_session_starts_here": f"Rotate {key}"},
    )
    # The key across the list column's cut at 80 characters: redacted before it is cut.
    decision = decision_create(
        space=space,
        decision=f"{'Keep the provider key in the vault; it was':<45}{key} (rotated since)",
        product_name="Atlas",
        reasoning=f"It leaked: {key}",
        alternatives=[f"Keep {key} in .env"],
    )
    memory = memory_create(
        space=space,
        data={"id": str(uuid.uuid4()), "content": f"My OpenAI key is {key}", "created_at": "2026-01-01T00:00:00Z"},
    )
    ingested = signals_ingest(
        space=space,
        project_id=str(product.pk),
        signals=[{"type": "blocker", "title": f"Key {key} revoked", "body": key, "data": {"key": key}, "source": "ci"}],
        batch=False,
    )
    session = session_register(space=space, user=owner, actor="setup", product_name="Atlas", label="S")
    session_end(space=space, session_id=session.pk, summary=f"Set {key}")
    rows = {
        "identity.Kernel": Kernel.objects.get(pk=kernel.pk),
        "identity.KernelRevision": kernel.revisions.first(),
        "products.ProductState": product,
        "decisions.Decision": decision,
        "memory.Memory": memory,
        "ingest.Signal": Signal.objects.get(pk=ingested.signals[0]["id"]),
        "mcp.McpSession": session,
    }
    return Pasted(key=key, space=space, rows=rows)


def _pages(pasted: Pasted) -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:scopes_space_overview", args=[pasted.space.pk])]
    for label, obj in pasted.rows.items():
        app_label, model = label.lower().split(".")
        urls.append(reverse(f"admin:{app_label}_{model}_changelist"))
        if hasattr(obj, "space_id"):
            urls.append(reverse(f"admin:{app_label}_{model}_changelist") + f"?space={pasted.space.pk}")
        for view in ("change", "history", "delete"):
            urls.append(reverse(f"admin:{app_label}_{model}_{view}", args=[obj.pk]))
    return urls


def _assert_hidden(client, urls, key) -> set[str]:
    """Every page answers without the key (nor a piece of it); the pages that redacted it."""
    redacted = set()
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 403), (url, response.status_code)
        html = response.content.decode()
        # Any letter case: a provider or a tag is stored lowercased, and that copy is the key too.
        assert key.lower() not in html.lower() and key[8:24].lower() not in html.lower(), url
        if REDACTED in html:
            redacted.add(url)
    return redacted


def test_a_pasted_key_is_redacted_on_every_admin_page_that_shows_stored_memory(staff):
    pasted = _paste_everywhere("one")
    redacted = _assert_hidden(staff, _pages(pasted), pasted.key)
    for label, obj in pasted.rows.items():
        app_label, model = label.lower().split(".")
        assert reverse(f"admin:{app_label}_{model}_change", args=[obj.pk]) in redacted, label
    for label in ("decisions.Decision", "memory.Memory", "ingest.Signal"):
        app_label, model = label.lower().split(".")
        assert reverse(f"admin:{app_label}_{model}_changelist") in redacted, label
    assert reverse("admin:scopes_space_overview", args=[pasted.space.pk]) in redacted
    # The rendered kernel block is rendered again from the redacted sections.
    kernel_page = staff.get(reverse("admin:identity_kernel_change", args=[pasted.rows["identity.Kernel"].pk]))
    assert f"Share {REDACTED}" in kernel_page.content.decode()


def test_a_pasted_key_is_redacted_in_delete_selected_and_the_history_it_leaves(staff):
    pasted = _paste_everywhere("one")
    decision = pasted.rows["decisions.Decision"]
    changelist = reverse("admin:decisions_decision_changelist")
    confirm = staff.post(changelist, {"action": "delete_selected", "_selected_action": [str(decision.pk)]})
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert REDACTED in html and pasted.key[8:24] not in html
    done = staff.post(changelist, {"action": "delete_selected", "_selected_action": [str(decision.pk)], "post": "yes"})
    assert done.status_code == 302 and not Decision.objects.filter(pk=decision.pk).exists()
    assert all(pasted.key[8:24] not in entry.object_repr for entry in LogEntry.objects.all())
    assert pasted.key[8:24] not in staff.get(reverse("admin:index")).content.decode()


def test_a_members_personal_key_is_redacted_in_the_workspace_overview_as_they_see_it(staff):
    owner = user_create(email="ws-owner@example.com", tier="team")
    member = user_create(email="ws-member@example.com", tier="pro")
    workspace = workspace_create(owner=owner, name="Team", kind="team")
    member_put(actor_membership=Membership.objects.get(space=workspace, user=owner), user=member, role="member")
    personal = space_ensure_personal(user=member)
    key = fresh_key("anthropic")
    byok_credential_create(space=personal, service="anthropic", label="Mine", key=key)
    kernel_update(space=personal, changes={"constraints": {"always": [f"Use {key}"]}}, actor="setup")
    page = staff.get(reverse("admin:scopes_space_overview", args=[workspace.pk]), {"member": member.email})
    html = page.content.decode()
    assert page.context["kernel"].seen_as == member
    assert key not in html and f"Use {REDACTED}" in html


def test_lists_load_the_keys_of_their_spaces_in_one_query_however_many(staff):
    first = _paste_everywhere("one")
    url = reverse("admin:decisions_decision_changelist")
    staff.get(url)
    with CaptureQueriesContext(connection) as one_space:
        staff.get(url)
    others = [_paste_everywhere(tag) for tag in ("two", "three")]
    with CaptureQueriesContext(connection) as three_spaces:
        html = staff.get(url).content.decode()
    assert len(three_spaces) == len(one_space)
    assert html.count(REDACTED) >= 3
    assert all(pasted.key[8:24] not in html for pasted in [first, *others])


def test_a_members_personal_key_pasted_into_workspace_rows_is_redacted_on_their_pages(staff):
    owner = user_create(email="ws-owner2@example.com", tier="team")
    member = user_create(email="ws-member2@example.com", tier="pro")
    workspace = workspace_create(owner=owner, name="Team", kind="team")
    member_put(actor_membership=Membership.objects.get(space=workspace, user=owner), user=member, role="member")
    key = fresh_key("openai")
    byok_credential_create(space=space_ensure_personal(user=member), service="openai", label="Mine", key=key)
    decision = decision_create(space=workspace, decision=f"Deploy with {key}", product_name="Atlas")
    memory = memory_create(
        space=workspace,
        data={"id": str(uuid.uuid4()), "content": f"Key {key}", "created_at": "2026-01-01T00:00:00Z"},
    )
    urls = [
        reverse("admin:decisions_decision_changelist"),
        reverse("admin:decisions_decision_change", args=[decision.pk]),
        reverse("admin:decisions_decision_history", args=[decision.pk]),
        reverse("admin:decisions_decision_delete", args=[decision.pk]),
        reverse("admin:memory_memory_changelist"),
        reverse("admin:memory_memory_change", args=[memory.pk]),
    ]
    redacted = _assert_hidden(staff, urls, key)
    assert reverse("admin:decisions_decision_change", args=[decision.pk]) in redacted
    assert reverse("admin:memory_memory_change", args=[memory.pk]) in redacted


def test_a_key_held_by_a_filter_value_is_not_offered_in_the_sidebar(staff):
    """A key pasted as a tag, or as a decision's source, would show in the filter's label and link."""
    owner = user_create(email="sidebar@example.com", tier="pro")
    space = space_ensure_personal(user=owner)
    key = fresh_key("mistral")  # 32 characters: a whole tag
    byok_credential_create(space=space, service="mistral", label="Main", key=key)
    decision_create(space=space, decision="Ship on Fridays", product_name="Atlas", tags=[key, "ops"])
    decision_create(space=space, decision="Pin the runtime", product_name="Atlas", tags=["ops"], source=key[:32])
    changelist = reverse("admin:decisions_decision_changelist")
    for url in (changelist, f"{changelist}?space={space.pk}"):
        html = staff.get(url).content.decode()
        assert key not in html, url
        assert "?tag=ops" in html or "tag=ops" in html, url  # the other values are still offered


def _workspace_with_a_members_key(tag: str):
    """A team workspace (owner, member with a personal BYOK key, a third member) whose kernel and
    a decision hold the member's key."""
    owner = user_create(email=f"ws-owner-{tag}@example.com", tier="team")
    member = user_create(email=f"ws-member-{tag}@example.com", tier="pro")
    other = user_create(email=f"ws-other-{tag}@example.com", tier="pro")
    workspace = workspace_create(owner=owner, name="Team", kind="team")
    owner_membership = Membership.objects.get(space=workspace, user=owner)
    for user in (member, other):
        member_put(actor_membership=owner_membership, user=user, role="member")
    key = fresh_key("anthropic")
    byok_credential_create(space=space_ensure_personal(user=member), service="anthropic", label="Mine", key=key)
    kernel_update(space=workspace, changes={"constraints": {"always": [f"Use {key}"]}}, actor="setup")
    decision_create(space=workspace, decision=f"Team uses {key} for claude", product_name="Alpha")
    return workspace, owner, member, other, key


def test_the_workspace_overview_redacts_every_members_personal_key_whoever_it_is_seen_as(staff):
    """The admin's rule (``space_scrubbers``), not the API reader's (only the chosen member's keys)."""
    workspace, owner, member, other, key = _workspace_with_a_members_key("overview")
    url = reverse("admin:scopes_space_overview", args=[workspace.pk])
    for seen_as in (None, owner.email, other.email, member.email):
        page = staff.get(url, {"member": seen_as} if seen_as else {})
        html = page.content.decode()
        assert page.status_code == 200, seen_as
        assert key not in html and key[13:29] not in html, seen_as
        assert f"Use {REDACTED}" in html and f"Team uses {REDACTED}" in html, seen_as


def test_a_key_in_a_cost_event_is_redacted_on_its_list_change_and_history_pages(staff):
    """An ``ai_usage`` signal's model, operation and provider are the client's free text."""
    owner = user_create(email="costs-paster@example.com", tier="pro")
    space = space_ensure_personal(user=owner)
    key = fresh_key("openai")
    byok_credential_create(space=space, service="openai", label="Main", key=key)
    event = cost_event_record(
        space=space, provider=f"p {key}", model=f"m {key}", operation=key, input_tokens=5, output_tokens=5
    )
    changelist = reverse("admin:costs_costevent_changelist")
    urls = [
        changelist,
        f"{changelist}?space={space.pk}",
        f"{changelist}?q=sk-proj",
        reverse("admin:costs_costevent_change", args=[event.pk]),
        reverse("admin:costs_costevent_history", args=[event.pk]),
    ]
    assert set(urls) == _assert_hidden(staff, urls, key)


def test_a_key_in_a_product_name_is_redacted_wherever_the_product_is_named(staff):
    """The MIF export redacts the name (``P-[REDACTED:api_key]``); so does every admin page."""
    owner = user_create(email="name-paster@example.com", tier="pro")
    space = space_ensure_personal(user=owner)
    key = fresh_key("openai")
    byok_credential_create(space=space, service="openai", label="Main", key=key)
    product = product_ensure(space=space, name=f"P-{key}")
    decision = decision_create(space=space, decision="Ship it", product_name=product.name)
    event = cost_event_record(
        space=space, product=product, provider="openai", model="gpt", input_tokens=1, output_tokens=1
    )
    urls = [reverse("admin:scopes_space_overview", args=[space.pk])]
    for name, obj in (("products_productstate", product), ("decisions_decision", decision), ("costs_costevent", event)):
        urls += [reverse(f"admin:{name}_changelist"), reverse(f"admin:{name}_change", args=[obj.pk])]
    assert set(urls) == _assert_hidden(staff, urls, key)
