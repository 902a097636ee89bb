"""Workspace viewers read everything and write nothing (SPEC §3), for every route of the API.

Every route the URL resolver serves under /api/v1/ (and /mcp) is classified here as a read, a
write to the workspace, or a route that acts on no workspace's memory (with the reason); an
unclassified route fails ``test_every_route_is_classified``. In W1 scope a viewer gets 200 from
every read and FORBIDDEN from every write, and the refused writes change no row of the
workspace; a member (or, for member management, the owner) makes the same writes succeed.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from django.apps import apps
from django.db import connection, models

from apps.identity.models import EffectiveBlock, KernelRevision
from apps.mcp.protocol import LATEST_VERSION
from apps.mcp.tools.registry import TOOLS
from apps.scopes.models import Membership, Role, Space
from apps.scopes.services import member_put, workspace_create
from tests.support.workers import publishing_to, sqla_broker_url
from tests.test_isolation import Seeded, api_routes, seed_space

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _test_broker(transactional_db):
    """Queued consolidation jobs go to the test database's broker tables."""
    with publishing_to(sqla_broker_url(connection.settings_dict)):
        yield


@dataclass
class Team:
    seeded: Seeded
    owner: object
    member: object
    viewer: object
    outsider: object
    clients: dict  # role → Api

    @property
    def space(self) -> Space:
        return self.seeded.space

    def call(self, role: str, method: str, path: str, headers: dict | None = None, **kwargs):
        headers = {"X-Synchronex-Scope": str(self.space.pk), **(headers or {})}
        return self.clients[role].request(method, path, headers=headers, **kwargs)


@pytest.fixture
def team(make_user, client_for) -> Team:
    owner, member, viewer, outsider = (make_user(tier="team") for _ in range(4))
    space = workspace_create(owner=owner, name="Studio", kind="team")
    owner_membership = Membership.objects.get(space=space, user=owner)
    member_put(actor_membership=owner_membership, user=member, role=Role.MEMBER)
    member_put(actor_membership=owner_membership, user=viewer, role=Role.VIEWER)
    seeded = seed_space(space, f"zqteam{secrets.token_hex(3)}", secret=f"sk-team{secrets.token_hex(16)}")
    clients = {"owner": client_for(owner), "member": client_for(member), "viewer": client_for(viewer)}
    return Team(seeded, owner, member, viewer, outsider, clients)


# -- the classification ------------------------------------------------------------------------
Request = Callable[[Team], tuple[str, dict]]  # → (path, requests kwargs)


@dataclass(frozen=True)
class Read:
    request: Request


@dataclass(frozen=True)
class Write:
    request: Request
    status: int  # what the writer gets
    writer: str = "member"  # member management needs the owner (or an admin)


@dataclass(frozen=True)
class NotAWorkspaceWrite:
    request: Request
    status: int  # what a viewer gets
    reason: str


def _state(team: Team) -> str:
    return f"/api/v1/memory/product/{quote(team.seeded.product.name, safe='')}/state"


MIF = {
    "mif_version": "2.0",
    "memories": [{"id": str(uuid.uuid4()), "content": "note", "created_at": "2026-01-01T00:00:00Z"}],
}
MCP_HEADERS = {"Accept": "application/json", "MCP-Protocol-Version": LATEST_VERSION}

ROUTES: dict[tuple[str, str], Read | Write | NotAWorkspaceWrite] = {
    ("GET", "/api/v1/scope"): Read(lambda t: ("/api/v1/scope", {})),
    ("GET", "/api/v1/workspaces"): Read(lambda t: ("/api/v1/workspaces", {})),
    ("GET", "/api/v1/workspaces/<str:workspace_id>"): Read(lambda t: (f"/api/v1/workspaces/{t.space.pk}", {})),
    ("GET", "/api/v1/workspaces/<str:workspace_id>/members"): Read(
        lambda t: (f"/api/v1/workspaces/{t.space.pk}/members", {})
    ),
    ("GET", "/api/v1/memory/identity"): Read(lambda t: ("/api/v1/memory/identity", {})),
    ("GET", "/api/v1/memory/identity/history"): Read(lambda t: ("/api/v1/memory/identity/history", {})),
    ("GET", "/api/v1/kernel/export"): Read(
        lambda t: ("/api/v1/kernel/export", {"params": {"product": t.seeded.product.name}})
    ),
    ("POST", "/api/v1/kernel/export"): Read(lambda t: ("/api/v1/kernel/export", {"json": {"task": "plan the week"}})),
    ("GET", "/api/v1/memory/products"): Read(lambda t: ("/api/v1/memory/products", {})),
    ("GET", "/api/v1/memory/product/<path:name>/state"): Read(lambda t: (_state(t), {})),
    ("GET", "/api/v1/memory/decisions/<str:decision_id>"): Read(
        lambda t: (f"/api/v1/memory/decisions/{t.seeded.decision.pk}", {})
    ),
    ("GET", "/api/v1/memory/decisions/search"): Read(
        lambda t: ("/api/v1/memory/decisions/search", {"params": {"q": "decision"}})
    ),
    ("GET", "/api/v1/memory/search"): Read(lambda t: ("/api/v1/memory/search", {"params": {"q": t.seeded.marker}})),
    ("GET", "/api/v1/memory/export-mif"): Read(lambda t: ("/api/v1/memory/export-mif", {})),
    ("GET", "/api/v1/memory/consolidate/<str:job_id>"): Read(
        lambda t: (f"/api/v1/memory/consolidate/{t.seeded.job.pk}", {})
    ),
    ("GET", "/api/v1/ai/costs"): Read(lambda t: ("/api/v1/ai/costs", {})),
    ("GET", "/api/v1/ai/costs/<path:product>"): Read(
        lambda t: (f"/api/v1/ai/costs/{quote(t.seeded.product.name, safe='')}", {})
    ),
    ("GET", "/api/v1/byok"): Read(lambda t: ("/api/v1/byok", {})),
    ("GET", "/api/v1/sessions"): Read(lambda t: ("/api/v1/sessions", {})),
    # Writes, in the order the writers make them (removing a member last: the member writes).
    ("PUT", "/api/v1/memory/identity"): Write(
        lambda t: ("/api/v1/memory/identity", {"json": {"identity": {"role": "Editor"}}}), 200
    ),
    ("POST", "/api/v1/memory/product/<path:name>/state"): Write(
        lambda t: (_state(t), {"json": {"status": "paused"}}), 200
    ),
    ("POST", "/api/v1/memory/decisions"): Write(
        lambda t: ("/api/v1/memory/decisions", {"json": {"decision": "Ship Fridays", "product_name": "New product"}}),
        201,
    ),
    ("POST", "/api/v1/memory/import-mif"): Write(lambda t: ("/api/v1/memory/import-mif", {"json": MIF}), 200),
    ("POST", "/api/v1/memory/consolidate"): Write(
        lambda t: ("/api/v1/memory/consolidate", {"json": {"dry_run": True}}), 202
    ),
    ("POST", "/api/v1/ingest/<path:project_id>"): Write(
        lambda t: (f"/api/v1/ingest/{t.seeded.product.pk}", {"json": {"type": "question", "title": "Why?"}}), 202
    ),
    ("POST", "/api/v1/byok"): Write(
        lambda t: ("/api/v1/byok", {"json": {"service": "anthropic", "label": "team", "key": "sk-ant-" + "k" * 30}}),
        201,
    ),
    ("DELETE", "/api/v1/byok/<str:credential_id>"): Write(
        lambda t: (f"/api/v1/byok/{t.seeded.credential.pk}", {}), 204
    ),
    ("DELETE", "/api/v1/memory/decisions/<str:decision_id>"): Write(
        lambda t: (f"/api/v1/memory/decisions/{t.seeded.decision.pk}", {}), 204
    ),
    ("POST", "/api/v1/workspaces/<str:workspace_id>/members"): Write(
        lambda t: (f"/api/v1/workspaces/{t.space.pk}/members", {"json": {"email": t.outsider.email, "role": "member"}}),
        201,
        writer="owner",
    ),
    ("DELETE", "/api/v1/workspaces/<str:workspace_id>/members/<str:user_id>"): Write(
        lambda t: (f"/api/v1/workspaces/{t.space.pk}/members/{t.member.pk}", {}), 204, writer="owner"
    ),
    # Routes that write no workspace's memory.
    ("PATCH", "/api/v1/scope"): NotAWorkspaceWrite(
        lambda t: ("/api/v1/scope", {"json": {"workspace_id": str(t.space.pk)}}),
        200,
        "stores the caller's own choice of scope; a viewer may choose the workspace they read",
    ),
    ("POST", "/api/v1/workspaces"): NotAWorkspaceWrite(
        lambda t: ("/api/v1/workspaces", {"json": {"name": "Viewer's own", "kind": "team"}}),
        201,
        "creates a new workspace of the caller's own (plan permitting), not a write to this one",
    ),
    ("GET", "/mcp"): NotAWorkspaceWrite(lambda t: ("/mcp", {"headers": MCP_HEADERS}), 405, "stateless MCP: no stream"),
    ("DELETE", "/mcp"): NotAWorkspaceWrite(
        lambda t: ("/mcp", {"headers": MCP_HEADERS}), 405, "stateless MCP: no session"
    ),
    ("POST", "/mcp"): NotAWorkspaceWrite(
        lambda t: ("/mcp", {"headers": MCP_HEADERS, "json": {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}}),
        200,
        "the protocol itself; each tool is classified in MCP_TOOLS",
    ),
}

# Every MCP tool's arguments; a tool's own read_only flag says whether a viewer may call it.
MCP_TOOLS: dict[str, Callable[[Team], dict]] = {
    "get_identity_kernel": lambda t: {},
    "get_product_state": lambda t: {"product_name": t.seeded.product.name},
    "get_session_handoff": lambda t: {"product_name": t.seeded.product.name},
    "search_decisions": lambda t: {"query": "decision"},
    "log_decision": lambda t: {"decision": "Use MCP", "product_name": t.seeded.product.name},
    "update_product_state": lambda t: {"product_name": t.seeded.product.name, "status": "blocked"},
    "register_session": lambda t: {"product_name": t.seeded.product.name},
    "end_session": lambda t: {"session_id": str(t.seeded.session.pk), "summary": "Done"},
    "check_memory_confidence": lambda t: {"context_block": "## Never\n- Guess", "product_name": t.seeded.product.name},
    "export_memories": lambda t: {"format": "json"},
    "import_memories": lambda t: {"document": MIF},
}


# Derived from memory on reads (a member's rendered kernel block), not memory itself.
READ_CACHES = {EffectiveBlock}


def workspace_rows(space: Space) -> dict[str, list]:
    """Every row that belongs to ``space`` (each model with a foreign key to Space), and the
    kernel revisions: what a refused write must leave exactly as it was."""
    rows: dict[str, list] = {}
    for model in apps.get_models():
        if model in READ_CACHES:
            continue
        links = [
            f.name
            for f in model._meta.get_fields()
            if isinstance(f, models.ForeignKey | models.OneToOneField) and f.related_model is Space
        ]
        for link in links:
            found = list(model.objects.filter(**{link: space}).order_by("pk").values())
            if found:
                rows[f"{model._meta.label}.{link}"] = found
    rows["identity.KernelRevision"] = list(KernelRevision.objects.filter(kernel__space=space).order_by("pk").values())
    return rows


def _error_code(response) -> str | None:
    try:
        return response.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return None


# -- the tests ---------------------------------------------------------------------------------
def test_every_route_is_classified():
    routes = api_routes()
    missing = sorted(routes - set(ROUTES))
    stale = sorted(set(ROUTES) - routes)
    assert not missing, f"routes not classified as read or write for viewers: {missing}"
    assert not stale, f"classified routes that no longer exist: {stale}"
    assert set(MCP_TOOLS) == set(TOOLS), sorted(set(MCP_TOOLS) ^ set(TOOLS))


def test_a_viewer_can_call_every_read_route(team):
    for (method, _), spec in ROUTES.items():
        if not isinstance(spec, Read):
            continue
        path, kwargs = spec.request(team)
        response = team.call("viewer", method, path, **kwargs)
        assert response.status_code == 200, (method, path, response.status_code, response.text[:400])
        if response.headers.get("Content-Type", "").startswith("application/json"):
            body = response.json()
            if isinstance(body, dict) and "scope" in body and isinstance(body["scope"], str):
                assert body["scope"] == "team", (method, path, body["scope"])


def test_a_viewer_gets_forbidden_on_every_write_and_nothing_is_written(team):
    before = workspace_rows(team.space)
    writes = [(key, spec) for key, spec in ROUTES.items() if isinstance(spec, Write)]
    for (method, _), spec in writes:
        path, kwargs = spec.request(team)
        response = team.call("viewer", method, path, **kwargs)
        assert (response.status_code, _error_code(response)) == (403, "FORBIDDEN"), (method, path, response.text)
    assert workspace_rows(team.space) == before

    for (method, _), spec in writes:
        path, kwargs = spec.request(team)
        response = team.call(spec.writer, method, path, **kwargs)
        assert response.status_code == spec.status, (spec.writer, method, path, response.text[:400])


def test_routes_that_write_no_workspace_answer_viewers_as_anyone(team):
    for (method, _), spec in ROUTES.items():
        if isinstance(spec, NotAWorkspaceWrite):
            path, kwargs = spec.request(team)
            response = team.call("viewer", method, path, **kwargs)
            assert response.status_code == spec.status, (method, path, spec.reason, response.text[:400])


def _tool(team: Team, role: str, name: str) -> dict:
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": name, "arguments": MCP_TOOLS[name](team)},
    }
    response = team.call(role, "POST", "/mcp", json=body, headers=MCP_HEADERS)
    assert response.status_code == 200, response.text
    return response.json()["result"]


def test_over_mcp_a_viewer_reads_with_every_read_tool_and_no_write_tool_writes(team):
    before = workspace_rows(team.space)
    # Tools without arguments here fail test_every_route_is_classified instead.
    tools = {name: tool for name, tool in TOOLS.items() if name in MCP_TOOLS}
    for name, tool in sorted(tools.items()):
        result = _tool(team, "viewer", name)
        if tool.read_only:
            assert result["isError"] is False, (name, result)
        else:
            assert result["isError"] is True, (name, result)
            assert result["structuredContent"]["error"]["code"] == "FORBIDDEN", (name, result)
    after = workspace_rows(team.space)
    # Reading the kernel with no session id touches nothing; a read tool never writes.
    assert after == before
    for name, tool in sorted(tools.items(), key=lambda item: item[0] == "end_session"):
        if not tool.read_only:
            assert _tool(team, "member", name)["isError"] is False, name


def test_a_viewer_who_is_promoted_can_write_and_one_demoted_cannot(team):
    owner = Membership.objects.get(space=team.space, user=team.owner)
    member_put(actor_membership=owner, user=team.viewer, role=Role.MEMBER)
    assert (
        team.call("viewer", "PUT", "/api/v1/memory/identity", json={"identity": {"role": "Now member"}}).status_code
        == 200
    )
    member_put(actor_membership=owner, user=team.viewer, role=Role.VIEWER)
    response = team.call("viewer", "PUT", "/api/v1/memory/identity", json={"identity": {"role": "Viewer again"}})
    assert (response.status_code, _error_code(response)) == (403, "FORBIDDEN")
