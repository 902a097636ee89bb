"""The admin console (SPEC §11): every registered model with data, pinned queries, no secrets.

The world below is made through the services (and, for OAuth and signals, through the real
endpoints in-process), with one or more rows of every model the admin registers, and with
script payloads in every text a person or a client can write.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)
from rest_framework.test import APIClient

from apps.accounts.models import ApiKey, digest_key
from apps.accounts.services import api_key_create, user_create
from apps.byok.services import byok_credential_create
from apps.byok.tests.helpers import fresh_key
from apps.costs.services import cost_event_record
from apps.decisions.services import decision_create
from apps.identity.models import Kernel
from apps.identity.services import kernel_update
from apps.mcp.services import session_end, session_register
from apps.memory.consolidation import consolidation_job_request, consolidation_job_run
from apps.memory.models import ConsolidationJob, EmbeddingSettings
from apps.memory.services import memory_create
from apps.oauth.tests.helpers import form_fields, pkce_pair
from apps.products.services import product_state_write
from apps.scopes.models import Membership, Space
from apps.scopes.services import member_put, space_ensure_personal, workspace_create
from conftest import ADMIN_PASSWORD as PASSWORD
from synchronex.admin_bounds import BoundedAdmin
from tests.support.admin_forms import form_data
from tests.support.quota import wait_for_fresh_ip_window, wait_for_fresh_minute_margin

pytestmark = pytest.mark.django_db

XSS = '<script>alert("sx")</script>'
XSS_RAW = re.compile(r"<script>alert\(", re.IGNORECASE)
XSS_ESCAPED = "&lt;script&gt;alert("
REDIRECT_URI = "http://127.0.0.1:8765/callback"

# Models deliberately left out of the admin, each with the reason. A new model must either be
# registered (and get a row in PAGE_QUERIES) or be listed here.
NOT_IN_ADMIN = {
    "admin.LogEntry": "the admin's own history, shown on every object's History page",
    "auth.Permission": "assigned on users and groups",
    "contenttypes.ContentType": "framework plumbing",
    "sessions.Session": "login sessions hold no memory",
    "oauth2_provider.DeviceGrant": "the device grant is refused",
    "oauth2_provider.IDToken": "OpenID Connect is off",
    "api.IdempotencyRecord": "stored first responses, kept 24 hours",
    "scopes.ActiveScope": "a user's last chosen workspace",
    "identity.EffectiveBlock": "a per-member cache; the memory overview renders the same block",
    "api.ContextStamp": "a number per account that triggers change; it tells web processes what to read again",
    "api.QuotaCount": "request counts per account; the user page shows today's (usage today)",
    "decisions.DecisionWord": "the words of a space's decisions, derived by triggers for typo correction",
    "memory.ProductSearch": "a product state's search document, derived by triggers for memory search",
    "memory.KernelSearch": "a kernel layer's search document, derived by triggers for memory search",
    "ingest.DeletedSignal": "a deleted signal's external id, kept taken so that a resend is a duplicate",
}

# Queries of a changelist and of a change page, after one warm-up load (framework caches such
# as content types are then full, as in a running server). Equal with one world or two: no
# page runs a query per row.
# Our lists count only what they show (no second, whole-table count: see synchronex/admin_bounds.py).
PAGE_QUERIES = {
    "auth.Group": (4, 5),  # a BoundedAdmin too (synchronex/admin_rules.py's lookup rules)
    "oauth2_provider.Application": (6, 3),
    "oauth2_provider.AccessToken": (6, 5),
    "oauth2_provider.RefreshToken": (6, 6),
    "oauth2_provider.Grant": (6, 5),
    "accounts.User": (7, 9),
    "accounts.ApiKey": (6, 4),
    "scopes.Space": (6, 5),
    "scopes.Membership": (6, 5),
    # The memory admins' pages read the BYOK keys of their space(s) once (synchronex/admin_redaction.py);
    # the big tables' lists drill down by date only in one space (no MIN/MAX, no DISTINCT dates);
    # a list whose sidebar offers values of 8 characters or more reads their spaces' keys once more
    # (synchronex/admin_filters.py: a value holding a key is not offered).
    "identity.Kernel": (6, 6),
    "identity.KernelRevision": (4, 7),
    "products.ProductState": (7, 5),
    "decisions.Decision": (10, 7),
    "memory.Memory": (8, 5),
    "memory.EmbeddingSettings": (6, 5),
    "memory.ConsolidationJob": (7, 5),
    "synchronex_oauth.AppUsage": (6, 5),
    "costs.CostEvent": (7, 6),
    "byok.ByokCredential": (6, 4),
    "ingest.Signal": (5, 6),
    "mcp.McpSession": (7, 7),
}
OVERVIEW_QUERIES = {"personal": 7, "team": 8}  # with the keys to redact


@dataclass
class World:
    """One row (at least) of every admin model, and the secrets that must never be shown."""

    objects: dict = field(default_factory=dict)
    secrets: dict = field(default_factory=dict)
    owner: object = None
    personal: object = None
    workspace: object = None
    raw_key: str = ""
    access_token: str = ""
    refresh_token: str = ""
    client_id: str = ""


def _oauth_flow(client: Client, user, *, scope: str = "memory:read decisions:read") -> dict:
    """Register an app and run the authorization code flow in-process; returns what it issued."""
    registered = client.post(
        "/api/oauth/register",
        data=json.dumps({"redirect_uris": [REDIRECT_URI], "client_name": f"Notes {XSS}"}),
        content_type="application/json",
    )
    assert registered.status_code == 201, registered.content
    client_id = registered.json()["client_id"]
    client.force_login(user)

    def authorize() -> str:
        verifier, challenge = pkce_pair()
        params = {
            "response_type": "code",
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "scope": scope,
            "state": uuid.uuid4().hex,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        url = f"/oauth/authorize?{urlencode(params)}"
        page = client.get(url)
        assert page.status_code == 200, page.content[:300]
        answered = client.post(url, {**form_fields(page.content.decode()), "allow": "Allow"})
        assert answered.status_code == 302, answered.content[:300]
        code = parse_qs(urlsplit(answered["Location"]).query)["code"][0]
        return code, verifier

    code, verifier = authorize()
    tokens = client.post(
        "/api/oauth/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "client_id": client_id,
            "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier,
        },
    )
    assert tokens.status_code == 200, tokens.content
    pending_code, _ = authorize()  # left unexchanged: a pending Grant row
    client.logout()
    return {"client_id": client_id, **tokens.json(), "pending_code": pending_code}


def build_world(tag: str) -> World:
    world = World()
    owner = user_create(email=f"owner-{tag}@example.com", password=PASSWORD, tier="team", name=f"Ada {XSS}")
    member = user_create(email=f"member-{tag}@example.com", tier="pro")
    personal = space_ensure_personal(user=owner)
    workspace = workspace_create(owner=owner, name=f"Team {XSS} {tag}", kind="team")
    owner_membership = Membership.objects.get(space=workspace, user=owner)
    membership, _ = member_put(actor_membership=owner_membership, user=member, role="member")
    key, raw_key = api_key_create(user=owner, name=f"laptop {XSS}", scope="write")

    kernel = kernel_update(
        space=personal,
        changes={
            "identity": {"name": f"Ada {XSS}", "company": "Synchronex", "timezone": "Europe/Berlin"},
            "constraints": {"never": [f"Run {XSS}"], "always": ["Write tests first"]},
            "products": [{"name": "Atlas", "status": "active", "summary": "Memory for assistants"}],
        },
        actor=key.actor,
        actor_user=owner,
    )
    kernel_update(space=personal, changes={"model_preferences": {"default_model": "gpt-5"}}, actor=key.actor)
    kernel_update(space=workspace, changes={"constraints": {"always": ["Ship small"]}}, actor=key.actor)
    revision = kernel.revisions.order_by("version").first()

    product, _ = product_state_write(
        space=personal,
        name=f"Atlas {XSS}",
        changes={
            "status": "blocked",
            "what_works": [f"Login {XSS}"],
            "what_is_blocked": ["Billing"],
            "open_questions": ["Which region?"],
            "next_session_starts_here": f"Fix billing {XSS}",
        },
    )
    first = decision_create(
        space=personal,
        decision=f"Use PostgreSQL {XSS} for everything {tag}",
        product_name=product.name,
        reasoning=f"One engine {XSS}",
        tags=["database", "infra"],
        affects_products=["Billing"],
    )
    decision = decision_create(
        space=personal,
        decision=f"Use PostgreSQL 18 with pgvector {tag}",
        product_name=product.name,
        tags=["database"],
        supersedes=first.pk,
    )
    memory = memory_create(
        space=personal,
        data={
            "id": str(uuid.uuid4()),
            "content": f"Imported note {XSS} {tag}",
            "memory_type": "learning",
            "created_at": "2026-01-01T00:00:00Z",
        },
    )
    settings_row = EmbeddingSettings.objects.create(space=workspace, provider="none")

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
    ingested = api.post(
        f"/api/v1/ingest/{product.pk}",
        {
            "signals": [
                {"type": "blocker", "title": f"Deploy blocked {XSS}", "external_id": f"b-{tag}"},
                {"type": "question", "title": "Which CDN?", "external_id": f"q-{tag}"},
                {
                    "type": "ai_usage",
                    "external_id": f"u-{tag}",
                    "data": {"provider": "openai", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 200},
                },
            ]
        },
        format="json",
    )
    assert ingested.status_code == 202, ingested.content
    signal_id = ingested.json()["signals"][0]["id"]
    cost = cost_event_record(
        space=personal,
        provider="acme",
        model=f"mystery {XSS}",
        input_tokens=5,
        output_tokens=1,
        operation="embedding",
        product=product,
        source="service",
    )

    credential_key = fresh_key("openai")
    credential = byok_credential_create(space=personal, service="openai", label=f"Main {XSS}", key=credential_key)
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM byok_byokcredential WHERE id = %s", [credential.pk])
        ciphertext = cursor.fetchone()[0]

    job, created = consolidation_job_request(space=personal)
    assert created
    assert consolidation_job_run(job_id=job.pk).outcome == "succeeded"

    session = session_register(
        space=personal, user=owner, actor=key.actor, product_name=product.name, agent_name="claude", label=f"S {XSS}"
    )
    session_end(space=personal, session_id=session.pk, summary=f"Shipped login {XSS}", ended_by="claude")

    oauth = _oauth_flow(Client(), owner)
    used = APIClient().get("/api/v1/scope", HTTP_AUTHORIZATION=f"Bearer {oauth['access_token']}")
    assert used.status_code == 200, used.content
    Application = get_application_model()
    application = Application.objects.get(client_id=oauth["client_id"])
    access = get_access_token_model().objects.get(application=application, user=owner)
    refresh = get_refresh_token_model().objects.get(application=application)
    grant = get_grant_model().objects.get(application=application)

    group = Group.objects.create(name=f"Support {tag}")
    group.permissions.set(Permission.objects.filter(codename__startswith="view_"))

    from apps.ingest.models import Signal
    from apps.oauth.models import AppUsage

    world.objects = {
        "auth.Group": group,
        "oauth2_provider.Application": application,
        "oauth2_provider.AccessToken": access,
        "oauth2_provider.RefreshToken": refresh,
        "oauth2_provider.Grant": grant,
        "accounts.User": owner,
        "accounts.ApiKey": key,
        "scopes.Space": workspace,
        "scopes.Membership": membership,
        "identity.Kernel": Kernel.objects.get(pk=kernel.pk),  # as consolidation left it
        "identity.KernelRevision": revision,
        "products.ProductState": product,
        "decisions.Decision": decision,
        "memory.Memory": memory,
        "memory.EmbeddingSettings": settings_row,
        "memory.ConsolidationJob": ConsolidationJob.objects.get(pk=job.pk),
        "synchronex_oauth.AppUsage": AppUsage.objects.get(application=application, user=owner),
        "costs.CostEvent": cost,
        "byok.ByokCredential": credential,
        "ingest.Signal": Signal.objects.get(pk=signal_id),
        "mcp.McpSession": session,
    }
    owner.refresh_from_db()
    world.secrets = {
        "API key": raw_key,
        "API key digest": digest_key(raw_key),
        "BYOK key": credential_key,
        "BYOK ciphertext": ciphertext,
        "BYOK fingerprint": credential.fingerprint,
        "OAuth access token": oauth["access_token"],
        "OAuth access token checksum": access.token_checksum,
        "OAuth refresh token": oauth["refresh_token"],
        "OAuth refresh token checksum": refresh.token_checksum,
        "OAuth authorization code": oauth["pending_code"],
        "password hash": owner.password,
    }
    if application.client_secret:
        world.secrets["OAuth client secret (stored)"] = application.client_secret
    world.owner, world.personal, world.workspace = owner, personal, workspace
    world.raw_key, world.client_id = raw_key, oauth["client_id"]
    world.access_token, world.refresh_token = oauth["access_token"], oauth["refresh_token"]
    return world


def _label(model) -> str:
    return model._meta.label


def _urls(model, obj) -> tuple[str, str]:
    info = (model._meta.app_label, model._meta.model_name)
    return (
        reverse("admin:{}_{}_changelist".format(*info)),
        reverse("admin:{}_{}_change".format(*info), args=[obj.pk]),
    )


def _count(client: Client, url: str) -> tuple[int, int, str]:
    client.get(url)  # warm-up: framework caches filled as in a running server
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    return response.status_code, len(queries), response.content.decode()


@pytest.fixture
def world() -> World:
    return build_world("one")


# -- completeness -------------------------------------------------------------------------------
def test_every_registered_model_has_a_page_case_and_data(world):
    registered = {_label(model) for model in admin.site._registry}
    assert registered == set(PAGE_QUERIES), "register a model's case in PAGE_QUERIES (or unregister it)"
    assert registered == set(world.objects), "build_world must create a row of every registered model"
    every = {_label(model) for model in apps.get_models()}
    unaccounted = every - registered - set(NOT_IN_ADMIN)
    assert not unaccounted, f"neither registered in the admin nor listed in NOT_IN_ADMIN: {unaccounted}"
    assert not (registered & set(NOT_IN_ADMIN))


def test_every_changelist_and_change_page_loads_with_pinned_queries(staff, world, subtests):
    build_world("two")  # more rows: the pinned numbers must not depend on how many there are
    for model in admin.site._registry:
        label = _label(model)
        changelist_url, change_url = _urls(model, world.objects[label])
        expected_list, expected_change = PAGE_QUERIES[label]
        with subtests.test(msg=f"{label} changelist"):
            status, queries, html = _count(staff, changelist_url)
            assert status == 200
            assert queries == expected_list, f"{label} changelist ran {queries} queries"
        with subtests.test(msg=f"{label} change page"):
            status, queries, html = _count(staff, change_url)
            assert status == 200
            assert queries == expected_change, f"{label} change page ran {queries} queries"


def test_list_pages_run_the_same_queries_however_many_rows(staff, world):
    def counts():
        return {
            _label(model): _count(staff, _urls(model, world.objects[_label(model)])[0])[1]
            for model in admin.site._registry
        }

    before = counts()
    build_world("two")
    build_world("three")
    assert counts() == before


# -- who may enter --------------------------------------------------------------------------------
def _admin_urls(world) -> list[str]:
    urls = [reverse("admin:index"), reverse("admin:scopes_space_overview", args=[world.personal.pk])]
    for model in admin.site._registry:
        urls.extend(_urls(model, world.objects[_label(model)]))
    return urls


def test_anonymous_and_non_staff_users_are_sent_to_the_admin_login(world):
    member = Client()
    member.force_login(world.owner)  # a customer, not staff
    for client in (Client(), member):
        for url in _admin_urls(world):
            response = client.get(url)
            assert response.status_code == 302, url
            assert response["Location"].startswith("/admin/login/"), url


def test_a_non_staff_user_cannot_log_in_to_the_admin():
    user_create(email="customer@example.com", password=PASSWORD)
    client = Client()
    response = client.post("/admin/login/?next=/admin/", {"username": "customer@example.com", "password": PASSWORD})
    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302


def test_staff_without_permissions_see_nothing_useful(world):
    client = Client()
    client.force_login(user_create(email="intern@example.com", is_staff=True))
    index = client.get("/admin/")
    assert index.status_code == 200
    html = index.content.decode()
    assert "permission to view or edit anything" in html
    for model in admin.site._registry:
        changelist, change = _urls(model, world.objects[_label(model)])
        assert changelist not in html
        assert client.get(changelist).status_code == 403, changelist
        assert client.get(change).status_code == 403, change
    assert client.get(reverse("admin:scopes_space_overview", args=[world.personal.pk])).status_code == 403


def test_view_only_staff_see_pages_but_get_no_revoke_or_rerun_actions(world):
    client = Client()
    support = user_create(email="support@example.com", is_staff=True)
    support.groups.add(world.objects["auth.Group"])  # every view_ permission
    client.force_login(support)
    for model in admin.site._registry:
        changelist, change = _urls(model, world.objects[_label(model)])
        assert client.get(changelist).status_code == 200, changelist
        page = client.get(change)
        assert page.status_code == 200, change
        assert 'type="submit" value="Save"' not in page.content.decode()
    assert client.get(reverse("admin:scopes_space_overview", args=[world.personal.pk])).status_code == 200
    for model_label in ("accounts.ApiKey", "oauth2_provider.AccessToken", "memory.ConsolidationJob"):
        model = apps.get_model(model_label)
        html = client.get(_urls(model, world.objects[model_label])[0]).content.decode()
        assert 'value="revoke' not in html and 'value="run_again"' not in html


def test_the_admin_login_shares_the_login_throttle(settings):
    settings.LOGIN_RATE = "2/m"
    wait_for_fresh_ip_window(5)
    client = Client()
    answers = [client.post("/admin/login/", {"username": "nobody@example.com", "password": "wrong"}) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert 1 <= int(answers[2].headers["Retry-After"]) <= 60
    # The site's own login form draws on the same budget.
    assert client.post("/accounts/login/", {"username": "nobody@example.com", "password": "x"}).status_code == 429


# -- secrets and payloads ---------------------------------------------------------------------------
def _every_admin_page(client: Client, world: World) -> dict[str, str]:
    """Index, app indexes, and for every model its list, change, history, delete and add pages."""
    pages: dict[str, str] = {}

    def fetch(url: str, *, optional: bool = False) -> None:
        response = client.get(url)
        if optional and response.status_code == 403:
            return
        assert response.status_code == 200, (url, response.status_code)
        pages[url] = response.content.decode()

    fetch(reverse("admin:index"))
    for app_label in sorted({model._meta.app_label for model in admin.site._registry}):
        fetch(reverse("admin:app_list", args=[app_label]))
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        obj = world.objects[_label(model)]
        changelist, change = _urls(model, obj)
        fetch(changelist)
        fetch(change)
        fetch(reverse("admin:{}_{}_history".format(*info), args=[obj.pk]))
        fetch(reverse("admin:{}_{}_delete".format(*info), args=[obj.pk]), optional=True)
        fetch(reverse("admin:{}_{}_add".format(*info)), optional=True)
    for space in (world.personal, world.workspace):
        fetch(reverse("admin:scopes_space_overview", args=[space.pk]))
    return pages


def test_no_admin_page_shows_a_secret_or_an_unescaped_payload(staff, world):
    # Changes made in the admin leave history entries; those pages are scanned too.
    key = world.objects["accounts.ApiKey"]
    credential = world.objects["byok.ByokCredential"]
    key_url = _urls(ApiKey, key)[1]
    edited = staff.post(key_url, {"name": "renamed laptop", "scope": "write", "expires_at": ""})
    assert edited.status_code == 302, edited.content[:500]
    byok_url = _urls(type(credential), credential)[1]
    assert staff.post(byok_url, {"label": "renamed key"}).status_code == 302
    revoked = staff.post(_urls(ApiKey, key)[0], {"action": "revoke", "_selected_action": [str(key.pk)]})
    assert revoked.status_code == 302
    assert LogEntry.objects.count() == 3

    pages = _every_admin_page(staff, world)
    assert len(pages) >= 90  # some delete and add pages answer 403
    for url, html in pages.items():
        for name, secret in world.secrets.items():
            assert secret not in html, f"{name} shown on {url}"
        assert not XSS_RAW.search(html), f"unescaped script payload on {url}"
    escaped_on = {url for url, html in pages.items() if XSS_ESCAPED in html}
    for model_label in (
        "accounts.User",
        "scopes.Space",
        "identity.Kernel",
        "products.ProductState",
        "decisions.Decision",
        "memory.Memory",
        "costs.CostEvent",
        "ingest.Signal",
        "mcp.McpSession",
        "oauth2_provider.Application",
    ):
        model = apps.get_model(model_label)
        assert _urls(model, world.objects[model_label])[1] in escaped_on, model_label
    assert reverse("admin:scopes_space_overview", args=[world.personal.pk]) in escaped_on


def test_searching_for_a_secret_finds_nothing(staff, world):
    searches = {
        "accounts.ApiKey": [world.secrets["API key"], world.secrets["API key digest"]],
        "byok.ByokCredential": [world.secrets["BYOK key"], world.secrets["BYOK fingerprint"]],
        "oauth2_provider.AccessToken": [world.access_token, world.secrets["OAuth access token checksum"]],
        "oauth2_provider.RefreshToken": [world.refresh_token, world.secrets["OAuth refresh token checksum"]],
    }
    for model_label, secrets in searches.items():
        changelist = _urls(apps.get_model(model_label), world.objects[model_label])[0]
        for secret in secrets:
            response = staff.get(changelist, {"q": secret})
            assert response.status_code == 200
            assert response.context["cl"].result_count == 0, model_label


# -- actions ----------------------------------------------------------------------------------------
def _api_status(token: str) -> int:
    return APIClient().get("/api/v1/scope", HTTP_AUTHORIZATION=f"Bearer {token}").status_code


def test_revoking_an_api_key_in_the_admin_makes_the_api_refuse_it(staff, world):
    key = world.objects["accounts.ApiKey"]
    other, other_raw = api_key_create(user=world.owner, name="other", scope="read")
    assert _api_status(world.raw_key) == 200
    response = staff.post(_urls(ApiKey, key)[0], {"action": "revoke", "_selected_action": [str(key.pk)]}, follow=True)
    assert "Revoked 1 key(s)." in response.content.decode()
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert _api_status(world.raw_key) == 401
    assert _api_status(other_raw) == 200  # only the selected key
    assert LogEntry.objects.filter(object_id=str(key.pk), change_message="Revoked the key.").exists()
    # A revoked key cannot be brought back through its form.
    assert 'name="revoked_at"' not in staff.get(_urls(ApiKey, key)[1]).content.decode()


def test_revoking_oauth_tokens_in_the_admin_ends_api_access_and_refresh(staff, world):
    AccessToken, RefreshToken = get_access_token_model(), get_refresh_token_model()
    refresh = world.objects["oauth2_provider.RefreshToken"]
    assert _api_status(world.access_token) == 200
    staff.post(_urls(RefreshToken, refresh)[0], {"action": "revoke_selected", "_selected_action": [str(refresh.pk)]})
    refresh.refresh_from_db()
    assert refresh.revoked is not None
    assert _api_status(world.access_token) == 401  # its access token went with it
    refused = Client().post(
        "/api/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": world.refresh_token, "client_id": world.client_id},
    )
    assert refused.status_code == 400

    issued = _oauth_flow(Client(), world.owner)
    access = AccessToken.objects.get(application__client_id=issued["client_id"], user=world.owner)
    assert _api_status(issued["access_token"]) == 200
    staff.post(_urls(AccessToken, access)[0], {"action": "revoke_selected", "_selected_action": [str(access.pk)]})
    assert _api_status(issued["access_token"]) == 401
    refused = Client().post(
        "/api/oauth/token",
        {"grant_type": "refresh_token", "refresh_token": issued["refresh_token"], "client_id": issued["client_id"]},
    )
    assert refused.status_code == 400


def test_memberships_cannot_be_deleted_on_their_own_but_go_with_their_space(staff, world):
    owner_membership = Membership.objects.get(space=world.workspace, user=world.owner)
    member_membership = world.objects["scopes.Membership"]
    changelist, change = _urls(Membership, owner_membership)
    delete = reverse("admin:scopes_membership_delete", args=[owner_membership.pk])

    assert staff.get(delete).status_code == 403
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    selected = {"action": "delete_selected", "_selected_action": [str(member_membership.pk)], "post": "yes"}
    staff.post(changelist, selected)
    assert 'value="delete_selected"' not in staff.get(changelist).content.decode()
    assert delete not in staff.get(change).content.decode()
    assert Membership.objects.filter(pk__in=[owner_membership.pk, member_membership.pk]).count() == 2

    # Deleting the workspace itself still takes its memberships with it.
    space_delete = reverse("admin:scopes_space_delete", args=[world.workspace.pk])
    assert staff.post(space_delete, {"post": "yes"}).status_code == 302
    assert not Membership.objects.filter(space_id=world.workspace.pk).exists()


def test_running_a_consolidation_job_again_requests_a_new_job(staff, world, django_capture_on_commit_callbacks):
    job = world.objects["memory.ConsolidationJob"]
    assert job.status == "succeeded"
    changelist = _urls(ConsolidationJob, job)[0]
    with django_capture_on_commit_callbacks() as enqueued:
        response = staff.post(changelist, {"action": "run_again", "_selected_action": [str(job.pk)]}, follow=True)
    new = ConsolidationJob.objects.exclude(pk=job.pk).get(space=job.space)
    assert new.status == "queued" and new.product_name == job.product_name and new.dry_run == job.dry_run
    assert len(enqueued) == 1  # sent to the workers once the request commits
    assert f"queued job {new.pk}" in response.content.decode()

    # While that job is queued, running the old one again does not request a second.
    again = staff.post(changelist, {"action": "run_again", "_selected_action": [str(job.pk)]}, follow=True)
    assert ConsolidationJob.objects.filter(space=job.space).count() == 2
    assert f"job {new.pk} is already queued" in again.content.decode()


# -- what the pages answer ---------------------------------------------------------------------------
def test_users_show_tier_limits_and_todays_usage(staff, world):
    wait_for_fresh_minute_margin(5)  # the day ends on a minute
    from synchronex.api.ratelimit import usage_today

    for _ in range(3):
        assert _api_status(world.raw_key) == 200
    used = usage_today(world.owner)
    assert used >= 3
    expected = f"{used:,} of 50,000"
    changelist = staff.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert expected in changelist and "50,000 / 600" in changelist
    page = staff.get(_urls(type(world.owner), world.owner)[1]).content.decode()
    assert expected in page
    assert reverse("admin:scopes_space_overview", args=[world.personal.pk]) in page


def test_users_show_an_enterprise_limit_of_zero_not_the_default(staff):
    cut_off = user_create(email="cut-off@example.com", tier="enterprise", minute_limit=0)
    changelist = staff.get(reverse("admin:accounts_user_changelist")).content.decode()
    assert "200,000 / 0" in changelist and "200,000 / 3,000" not in changelist
    page = staff.get(_urls(type(cut_off), cut_off)[1]).content.decode()
    assert "0 of 200,000" in page


def test_the_kernel_page_shows_the_block_its_token_count_and_revisions(staff, world):
    kernel = world.objects["identity.Kernel"]
    html = staff.get(_urls(type(kernel), kernel)[1]).content.decode()
    assert "## Never" in html and f"Run {XSS_ESCAPED}" in html
    assert f'<div class="readonly">{kernel.injection_tokens}</div>' in html and kernel.injection_tokens > 0
    # Two writes over the API, and consolidation's refresh of the product snapshots.
    assert 'id="kernel-revisions"' in html and all(f">v{n}<" in html for n in (1, 2, 3))
    revisions = staff.get(reverse("admin:identity_kernelrevision_changelist"), {"kernel": str(kernel.pk)})
    assert revisions.context["cl"].result_count == 3
    by_consolidation = staff.get(reverse("admin:identity_kernelrevision_changelist"), {"actor_kind": "consolidation"})
    assert by_consolidation.context["cl"].result_count == 1
    by_api_keys = staff.get(reverse("admin:identity_kernelrevision_changelist"), {"actor_kind": "api_key"})
    assert by_api_keys.context["cl"].result_count == 3


def test_decisions_are_found_by_search_and_filtered_by_product_tag_date_and_state(staff, world):
    build_world("two")
    url = reverse("admin:decisions_decision_changelist")
    decision = world.objects["decisions.Decision"]

    def found(**params) -> int:
        response = staff.get(url, params)
        assert response.status_code == 200
        return response.context["cl"].result_count

    assert found() == 4
    assert found(q="pgvector one") == 1
    assert found(q="pgvector") == 2
    assert found(q="nothing-like-this") == 0
    assert found(tag="infra") == 2
    assert found(product_name=decision.product.name) == 4  # the same product name in both worlds
    assert found(product_name=decision.product.name, space=str(world.personal.pk)) == 2
    assert found(state="superseded") == 2 and found(state="current") == 2
    day = decision.decided_at
    assert found(decided_at__year=day.year, decided_at__month=day.month, decided_at__day=day.day) == 4
    assert found(decided_at__year=day.year - 1) == 0


def test_cost_events_drill_down_by_date_with_totals(staff, world):
    url = reverse("admin:costs_costevent_changelist")
    html = staff.get(url).content.decode()
    # Every space's events: the date filter's fixed ranges; one space's: the drill-down too.
    assert "Totals of the 2 matching events" in html and "occurred_at__gte=" in html
    assert "occurred_at__year=" not in html
    in_space = staff.get(url, {"space": str(world.personal.pk)}).content.decode()
    assert "Totals of the 2 matching events" in in_space and "occurred_at__year=" in in_space
    event = world.objects["costs.CostEvent"]
    day = event.occurred_at
    params = {"occurred_at__year": day.year, "occurred_at__month": day.month, "occurred_at__day": day.day}
    assert "Totals of the 2 matching events" in staff.get(url, params).content.decode()
    assert "Totals of the 0 matching events" in staff.get(url, {"occurred_at__year": day.year - 1}).content.decode()


def test_the_memory_overview_shows_kernel_products_and_recent_decisions(staff, world):
    url = reverse("admin:scopes_space_overview", args=[world.personal.pk])
    status, queries, html = _count(staff, url)
    assert status == 200 and queries == OVERVIEW_QUERIES["personal"]
    kernel = world.objects["identity.Kernel"]
    assert f'<strong id="kernel-tokens">{kernel.injection_tokens}</strong> of 500 tokens' in html
    assert f"Run {XSS_ESCAPED}" in html  # the injection block, escaped
    assert reverse("admin:products_productstate_change", args=[world.objects["products.ProductState"].pk]) in html
    assert "Blocked" in html
    for decision in world.objects["decisions.Decision"].space.decisions.all():
        assert reverse("admin:decisions_decision_change", args=[decision.pk]) in html
    # Linked from the space list and the space's own page.
    assert url in staff.get(reverse("admin:scopes_space_changelist")).content.decode()
    assert url in staff.get(reverse("admin:scopes_space_change", args=[world.personal.pk])).content.decode()


def test_a_workspace_overview_renders_the_effective_kernel_for_a_member(staff, world):
    url = reverse("admin:scopes_space_overview", args=[world.workspace.pk])
    status, queries, html = _count(staff, url)
    assert status == 200 and queries == OVERVIEW_QUERIES["team"]
    # The owner's personal layer under the workspace layer: constraints accumulate.
    assert "Write tests first" in html and "Ship small" in html
    member = Membership.objects.exclude(user=world.owner).get(space=world.workspace).user
    as_member = staff.get(url, {"member": str(member.pk)}).content.decode()
    assert "Ship small" in as_member and "Write tests first" not in as_member


def test_the_overview_links_list_exactly_the_spaces_rows(staff, world):
    build_world("two")
    response = staff.get(reverse("admin:scopes_space_overview", args=[world.personal.pk]))
    links = response.context["space_lists"]
    assert len(links) == 9
    for label, url in links:
        listed = staff.get(url)
        assert listed.status_code == 200, label
        changelist = listed.context["cl"]
        model = changelist.model
        in_space = model.objects.filter(space=world.personal).count()
        assert changelist.result_count == in_space, label


# -- what staff may not do --------------------------------------------------------------------------
# Read-only memory records that have no delete either (SPEC §11: they are for inspecting); they
# still go with their space or their user.
NOT_DELETABLE = ("identity.Kernel", "identity.KernelRevision", "products.ProductState", "costs.CostEvent")


def _delete_url(model, obj) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_delete", args=[obj.pk])


def test_kernels_revisions_product_states_and_cost_events_are_not_deleted_on_their_own(staff, world):
    for model_label in NOT_DELETABLE:
        model, obj = apps.get_model(model_label), world.objects[model_label]
        changelist, change = _urls(model, obj)
        delete = _delete_url(model, obj)
        assert staff.get(delete).status_code == 403, model_label
        assert staff.post(delete, {"post": "yes"}).status_code == 403, model_label
        assert 'value="delete_selected"' not in staff.get(changelist).content.decode(), model_label
        staff.post(changelist, {"action": "delete_selected", "_selected_action": [str(obj.pk)], "post": "yes"})
        assert delete not in staff.get(change).content.decode(), model_label
        assert model.objects.filter(pk=obj.pk).exists(), model_label

    # Deleting their user still takes them all along (a user without OAuth tokens: DOT's token
    # admins refuse every delete, so a user holding some is not deleted here at all).
    leaver = user_create(email="leaver@example.com")
    space = space_ensure_personal(user=leaver)
    kernel = kernel_update(space=space, changes={"constraints": {"never": ["Gone"]}}, actor="test")
    product, _ = product_state_write(space=space, name="Gone", changes={"status": "active"})
    cost = cost_event_record(
        space=space,
        provider="acme",
        model="m",
        input_tokens=1,
        output_tokens=1,
        operation="embedding",
        source="service",
    )
    rows = [kernel, kernel.revisions.get(), product, cost]
    assert staff.post(_delete_url(type(leaver), leaver), {"post": "yes"}).status_code == 302
    assert not [row for row in rows if type(row).objects.filter(pk=row.pk).exists()]


def test_a_personal_space_is_deleted_with_its_user_not_on_its_own(staff, world):
    # A personal space deleted alone comes back empty on its owner's next request, with its kernel
    # and products at version 1 again: an If-Match kept from before would match another layer.
    delete = _delete_url(Space, world.personal)
    assert staff.get(delete).status_code == 403
    assert staff.post(delete, {"post": "yes"}).status_code == 403
    changelist = reverse("admin:scopes_space_changelist")
    staff.post(changelist, {"action": "delete_selected", "_selected_action": [str(world.personal.pk)], "post": "yes"})
    assert Space.objects.filter(pk=world.personal.pk).exists()
    # A workspace is deleted with its layer (its id is never used again, so no old ETag applies).
    assert staff.post(_delete_url(Space, world.workspace), {"post": "yes"}).status_code == 302
    assert not Kernel.objects.filter(space_id=world.workspace.pk).exists()


def test_a_user_holding_oauth_tokens_is_deleted_with_them_but_a_token_is_only_revoked(staff, world):
    from oauth2_provider.models import AccessToken, RefreshToken

    token = world.objects["oauth2_provider.AccessToken"]
    assert RefreshToken.objects.filter(user=world.owner).exists()
    assert staff.get(_delete_url(AccessToken, token)).status_code == 403  # revoke it instead
    page = staff.get(_delete_url(type(world.owner), world.owner))
    assert page.status_code == 200 and not page.context["perms_lacking"]
    assert staff.post(_delete_url(type(world.owner), world.owner), {"post": "yes"}).status_code == 302
    assert not type(world.owner).objects.filter(pk=world.owner.pk).exists()
    assert not AccessToken.objects.filter(pk=token.pk).exists()
    assert not RefreshToken.objects.filter(user_id=world.owner.pk).exists()


def _limited_staff(email: str, *codenames: str):
    person = user_create(email=email, password=PASSWORD, is_staff=True)
    person.user_permissions.set(Permission.objects.filter(content_type__app_label="accounts", codename__in=codenames))
    client = Client()
    client.force_login(person)
    return person, client


def test_staff_who_may_change_users_cannot_raise_anyones_rights(superuser, world):
    helpdesk, client = _limited_staff("helpdesk@example.com", "view_user", "change_user")
    everything = [str(pk) for pk in Permission.objects.values_list("pk", flat=True)]
    group = [str(world.objects["auth.Group"].pk)]
    for target in (helpdesk, world.owner):
        url = _urls(type(target), target)[1]
        page = client.get(url)
        html = page.content.decode()
        for name in ("is_superuser", "is_staff", "groups", "user_permissions"):
            assert f'name="{name}"' not in html, name
        raised = {"is_superuser": "on", "is_staff": "on", "groups": group, "user_permissions": everything}
        response = client.post(url, {**form_data(page), "name": "Renamed", **raised})
        assert response.status_code == 302, response.content[:500]
        target.refresh_from_db()
        assert target.name == "Renamed"  # the rest of the form still saves
        assert not target.is_superuser and not target.groups.exists()
        assert target.is_staff == (target == helpdesk)
    assert helpdesk.user_permissions.count() == 2

    # A superuser's account is only looked at: no form, no password change.
    url = _urls(type(superuser), superuser)[1]
    page = client.get(url)
    assert page.status_code == 200 and 'name="email"' not in page.content.decode()
    assert client.post(url, {**form_data(page), "email": "helpdesk-owned@example.com"}).status_code == 403
    password = reverse("admin:auth_user_password_change", args=[superuser.pk])
    assert client.get(password).status_code == 403
    new = {"password1": "hijacked password 42!", "password2": "hijacked password 42!", "usable_password": "true"}
    assert client.post(password, new).status_code == 403
    superuser.refresh_from_db()
    assert superuser.email == "root@example.com" and superuser.check_password(PASSWORD)
    # Another non-superuser's password can still be reset by the help desk, but not a colleague's
    # (who may hold more rights).
    assert client.get(reverse("admin:auth_user_password_change", args=[world.owner.pk])).status_code == 200
    colleague, _ = _limited_staff("auditor@example.com", "view_user", "change_user", "delete_user", "view_apikey")
    password = reverse("admin:auth_user_password_change", args=[colleague.pk])
    assert client.get(password).status_code == 403
    assert client.post(password, new).status_code == 403
    colleague.refresh_from_db()
    assert colleague.check_password(PASSWORD)
    assert client.post(_urls(type(colleague), colleague)[1], {"name": "Taken"}).status_code == 403


def test_a_superuser_still_grants_rights(staff, world):
    url = _urls(type(world.owner), world.owner)[1]
    page = staff.get(url)
    assert 'name="is_superuser"' in page.content.decode()
    response = staff.post(url, {**form_data(page), "is_staff": "on", "groups": [str(world.objects["auth.Group"].pk)]})
    assert response.status_code == 302
    world.owner.refresh_from_db()
    assert world.owner.is_staff and world.owner.groups.count() == 1


def test_an_api_keys_scope_and_expiry_cannot_be_changed_in_the_admin(staff, world):
    reader, raw = api_key_create(user=world.owner, name="reader", scope="read")
    url = _urls(ApiKey, reader)[1]
    html = staff.get(url).content.decode()
    assert 'name="scope"' not in html and 'name="expires_at_0"' not in html
    posted = {"name": "renamed reader", "scope": "write", "expires_at_0": "2020-01-01", "expires_at_1": "00:00:00"}
    assert staff.post(url, posted).status_code == 302
    reader.refresh_from_db()
    assert (reader.name, reader.scope, reader.expires_at) == ("renamed reader", "read", None)

    # An expired key stays expired.
    ApiKey.objects.filter(pk=reader.pk).update(expires_at=timezone.now() - timedelta(days=1))
    assert _api_status(raw) == 401
    assert staff.post(url, {"name": "revived", "expires_at_0": "", "expires_at_1": ""}).status_code == 302
    reader.refresh_from_db()
    assert reader.expires_at is not None and _api_status(raw) == 401


def test_a_byok_label_cannot_be_changed_in_the_admin(staff, world):
    # The API checks a label (length, control characters, unique per service in any case).
    first = world.objects["byok.ByokCredential"]
    second = byok_credential_create(space=world.personal, service="openai", label="Second", key=fresh_key("openai"))
    url = _urls(type(second), second)[1]
    assert 'name="label"' not in staff.get(url).content.decode()
    for label in (first.label.upper(), "bell\x07label"):
        assert staff.post(url, {"label": label}).status_code == 302
        second.refresh_from_db()
        assert second.label == "Second"


# Columns whose values are credentials (or lead to them): a lookup on one answers "which rows
# match this guess", so a prefix search would read the value out a character at a time.
SECRET_LOOKUPS = {
    "accounts.ApiKey": {"digest__startswith": "API key digest", "digest": "API key digest"},
    "accounts.User": {"password__startswith": "password hash"},
    "byok.ByokCredential": {"fingerprint__startswith": "BYOK fingerprint", "secret__isnull": None},
    "oauth2_provider.AccessToken": {
        "token_checksum__startswith": "OAuth access token checksum",
        "token__isnull": None,
        "source_refresh_token__token_checksum__startswith": "OAuth refresh token checksum",
    },
    "oauth2_provider.RefreshToken": {"token_checksum__startswith": "OAuth refresh token checksum"},
    "oauth2_provider.Grant": {"code__startswith": "OAuth authorization code", "code_challenge__isnull": None},
    "oauth2_provider.Application": {"client_secret__isnull": None},
}


def test_lookups_on_secret_columns_are_refused(staff, world):
    for model_label, lookups in SECRET_LOOKUPS.items():
        changelist = _urls(apps.get_model(model_label), world.objects[model_label])[0]
        for lookup, secret in lookups.items():
            value = world.secrets[secret][:12] if secret else "0"
            response = staff.get(changelist, {lookup: value})
            assert response.status_code == 400, (model_label, lookup, response.status_code)
    # Ordinary filters still answer.
    keys = staff.get(_urls(ApiKey, world.objects["accounts.ApiKey"])[0], {"scope": "write", "status": "active"})
    assert keys.status_code == 200 and keys.context["cl"].result_count == 1
    users = staff.get(reverse("admin:accounts_user_changelist"), {"email__startswith": "owner-"})
    assert users.status_code == 200 and users.context["cl"].result_count == 1


# Filters the database could only fail on; each answered 500. A bad value is answered as Django
# answers any bad lookup (the list's ``?e=1`` redirect), a lookup that cannot work with a 400.
BAD_FILTERS = [
    ("costs.CostEvent", {"provider": "\x00"}, 302),
    ("decisions.Decision", {"tag": "\x00"}, 302),
    ("decisions.Decision", {"product_name": "\x00"}, 302),
    ("memory.Memory", {"memory_type": "\x00"}, 302),
    ("memory.Memory", {"source": "\x00"}, 302),
    ("products.ProductState", {"status": "\x00"}, 302),
    ("ingest.Signal", {"status": "\x00"}, 302),
    ("memory.ConsolidationJob", {"status": "\x00"}, 302),
    ("oauth2_provider.Application", {"client_type": "\x00"}, 302),
    ("mcp.McpSession", {"agent_name": "\x00"}, 302),
    ("memory.EmbeddingSettings", {"provider": "\x00"}, 302),
    ("decisions.Decision", {"tags__contains": "x"}, 302),
    ("decisions.Decision", {"tags": '{"unclosed}'}, 302),
    ("memory.Memory", {"tags__overlap": "a,b"}, 302),
    ("oauth2_provider.AccessToken", {"resource": "x"}, 302),
    ("products.ProductState", {"name__regex": "("}, 400),
    ("accounts.User", {"email__iregex": "("}, 400),
    ("accounts.ApiKey", {"name__regex": "("}, 400),
    ("auth.Group", {"name__regex": "("}, 400),
    ("scopes.Space", {"name__regex": "("}, 400),
    ("oauth2_provider.Application", {"name__regex": "("}, 400),
    ("products.ProductState", {"version__range": "1,2"}, 400),
    ("accounts.User", {"date_joined__contained_by": "x"}, 400),
    ("scopes.Space", {"name__unaccent": "x"}, 400),
]


def _refused(response, expected: int) -> bool:
    if expected == 302:
        return response.status_code == 302 and response["Location"].endswith("?e=1")
    return response.status_code == expected


def test_filters_the_database_cannot_run_are_refused_not_answered_500(staff, world, subtests):
    for model_label, params, expected in BAD_FILTERS:
        with subtests.test(model=model_label, params=params):
            response = staff.get(_urls(apps.get_model(model_label), world.objects[model_label])[0], params)
            assert _refused(response, expected), (response.status_code, response.get("Location"))
    # Well-formed ones still answer.
    decisions = reverse("admin:decisions_decision_changelist")
    for params, count in (
        ({"tags__contains": "{infra}"}, 1),
        ({"tags__contains": "{database}"}, 2),
        ({"tag": "infra"}, 1),
    ):
        response = staff.get(decisions, params)
        assert response.status_code == 200 and response.context["cl"].result_count == count, params


def test_every_list_refuses_a_nul_value_or_a_regular_expression_on_every_column(staff, world, subtests):
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, BoundedAdmin), model  # where the rules live
        changelist = _urls(model, world.objects[_label(model)])[0]
        for column in model._meta.concrete_fields:
            for params, expected in (({column.name: "\x00"}, 302), ({f"{column.name}__regex": "("}, 400)):
                with subtests.test(model=_label(model), params=params):
                    response = staff.get(changelist, params)
                    # A secret column is refused (400) whatever the value.
                    assert _refused(response, expected) or response.status_code == 400, response.status_code
