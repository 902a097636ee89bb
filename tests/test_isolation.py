"""Tenant isolation, proven for every route of the API (SPEC §3).

The world: user A keeps data in the personal space, in team workspace W1 and in agency workspace
W2 — kernel layer, product state, decision, generic memory, cost event, BYOK credential, project
signal, consolidation job — every piece carrying its space's marker. V (viewer) and M (member)
belong to W1; B belongs to nothing. B, V, M and A have personal kernel layers with markers of
their own. Every route is then called by B (personal scope), by V and M in W1 scope, and by A in
W1 scope and in W2 scope. A caller may see the markers of the active space only, plus their own
personal kernel layer (the layer a workspace kernel sits on). Foreign ids are NOT_FOUND, never
FORBIDDEN; writes naming foreign things never touch them.

``test_every_api_route_has_an_isolation_case`` walks the URL resolver: a route under /api/v1/
(or /mcp) without a case here fails it, so a route added later must come with its proof.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import pytest
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver

from apps.byok.models import ByokCredential
from apps.byok.services import byok_credential_create
from apps.costs.services import cost_event_record
from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.identity.models import Kernel
from apps.identity.services import kernel_update
from apps.ingest.api.serializers import SignalSerializer
from apps.ingest.models import Signal
from apps.ingest.services import signals_ingest
from apps.mcp.models import McpSession
from apps.mcp.protocol import LATEST_VERSION
from apps.mcp.services import session_register
from apps.mcp.tools.registry import TOOLS
from apps.memory.consolidation import consolidation_job_request
from apps.memory.models import ConsolidationJob, Memory
from apps.memory.services import memory_create
from apps.products.models import ProductState
from apps.products.services import product_state_write
from apps.scopes.models import ActiveScope, Membership, Role, Space
from apps.scopes.services import member_put, space_ensure_personal, workspace_create
from tests.support.workers import publishing_to, sqla_broker_url

pytestmark = pytest.mark.django_db(transaction=True)

METHODS = ("get", "post", "put", "patch", "delete")
EXCLUDED_ROUTES = {"/api/v1/openapi.json", "/api/v1/openapi.yaml", "/api/v1/docs"}


def api_routes() -> set[tuple[str, str]]:
    """Every (METHOD, route) served under /api/v1/ (and /mcp), from the URL resolver itself."""
    found: set[tuple[str, str]] = set()

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern):
                path = "/" + route.lstrip("^").rstrip("$")
                if not path.startswith(("/api/v1/", "/mcp")) or path in EXCLUDED_ROUTES:
                    continue
                view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
                methods = [m for m in METHODS if hasattr(view, m)] if view is not None else ["get", "post"]
                found.update((m.upper(), path) for m in methods)

    walk(get_resolver().url_patterns, "")
    return found


# -- the world ---------------------------------------------------------------------------------
@dataclass
class Seeded:
    """What one space holds; ``marker`` is in every piece of it."""

    space: Space
    marker: str
    product: ProductState | None = None
    decision: Decision | None = None
    memory: Memory | None = None
    credential: ByokCredential | None = None
    signal: Signal | None = None
    job: ConsolidationJob | None = None
    session: McpSession | None = None
    secret: str = ""


@dataclass
class Caller:
    name: str
    api: object
    user: object
    space: Space  # the active space
    headers: dict
    allowed: set[str]  # the markers this caller may see
    can_write: bool

    def call(self, method: str, path: str, headers: dict | None = None, **kwargs):
        return self.api.request(method, path, headers={**self.headers, **(headers or {})}, **kwargs)


@dataclass
class World:
    seeded: dict[str, Seeded]  # "a" (A's personal space), "w1", "w2"
    kernel_markers: dict[str, str]  # user name → marker of that user's personal kernel layer
    users: dict[str, object]
    callers: list[Caller] = field(default_factory=list)

    @property
    def markers(self) -> set[str]:
        return {s.marker for s in self.seeded.values()} | set(self.kernel_markers.values())

    def own(self, caller: Caller) -> Seeded | None:
        return next((s for s in self.seeded.values() if s.space.pk == caller.space.pk), None)

    def foreign(self, caller: Caller) -> list[Seeded]:
        return [s for s in self.seeded.values() if s.space.pk != caller.space.pk]

    def workspaces(self) -> list[Space]:
        return [self.seeded["w1"].space, self.seeded["w2"].space]


def _marker(label: str) -> str:
    return f"zq{label}{secrets.token_hex(4)}"


def seed_space(space: Space, marker: str, *, secret: str) -> Seeded:
    seeded = Seeded(space=space, marker=marker, secret=secret)
    kernel_update(
        space=space,
        changes={
            "identity": {"name": f"{marker} name"},
            "constraints": {"never": [f"{marker} never rule"]},
            "products": [{"name": f"{marker} kernel product"}],
        },
        actor="seed",
    )
    product_name = f"{marker}-product"
    seeded.product, _ = product_state_write(
        space=space,
        name=product_name,
        changes={"what_works": [f"{marker} works"], "next_session_starts_here": f"{marker} handoff"},
    )
    older = decision_create(space=space, decision=f"{marker} older decision", product_name=product_name)
    seeded.decision = decision_create(
        space=space,
        decision=f"{marker} decision",
        product_name=product_name,
        reasoning=f"{marker} reasoning",
        supersedes=older.pk,
    )
    seeded.memory = memory_create(
        space=space, data={"id": str(uuid.uuid4()), "content": f"{marker} memory", "created_at": "2026-01-02T03:04:05Z"}
    )
    cost_event_record(
        space=space,
        provider="openai",
        model="gpt-4o",
        input_tokens=1000,
        output_tokens=100,
        product=seeded.product,
        operation=f"{marker}-operation",
    )
    seeded.credential = byok_credential_create(space=space, service="openai", label=f"{marker}-key", key=secret)
    signal = SignalSerializer(data={"type": "note", "title": f"{marker} signal", "body": f"{marker} signal body"})
    signal.is_valid(raise_exception=True)
    result = signals_ingest(space=space, project_id=product_name, signals=[signal.validated_data], batch=False)
    seeded.signal = Signal.objects.get(pk=result.signals[0]["id"])
    seeded.job, _ = consolidation_job_request(space=space, dry_run=True)
    seeded.session = session_register(
        space=space, user=space.owner, actor="seed", product_name=product_name, label=f"{marker} session"
    )
    return seeded


@pytest.fixture(autouse=True)
def test_broker(transactional_db):
    """Queued consolidation jobs go to the test database's broker tables."""
    with publishing_to(sqla_broker_url(connection.settings_dict)):
        yield


@pytest.fixture
def world(make_user, client_for) -> World:
    users = {name: make_user(tier="team") for name in ("a", "b", "v", "m")}
    w1 = workspace_create(owner=users["a"], name=f"Studio {secrets.token_hex(3)}", kind="team")
    w2 = workspace_create(owner=users["a"], name=f"Client {secrets.token_hex(3)}", kind="agency")
    owner = Membership.objects.get(space=w1, user=users["a"])
    member_put(actor_membership=owner, user=users["v"], role=Role.VIEWER)
    member_put(actor_membership=owner, user=users["m"], role=Role.MEMBER)
    personal = {name: space_ensure_personal(user=user) for name, user in users.items()}
    seeded = {
        key: seed_space(space, _marker(key), secret=f"sk-{key}{secrets.token_hex(16)}")
        for key, space in (("a", personal["a"]), ("w1", w1), ("w2", w2))
    }
    kernel_markers = {}
    for name in users:
        kernel_markers[name] = _marker(f"{name}kern")
        # A's personal space also holds data (its marker); its kernel layer carries only A's
        # kernel marker, the one part of a personal space a workspace scope shows its owner.
        kernel_update(
            space=personal[name],
            changes={
                "identity": {"name": f"{kernel_markers[name]} personal"},
                "constraints": {"always": [f"{kernel_markers[name]} rule"]},
                "products": None,
            },
            actor="seed",
        )
    world = World(seeded=seeded, kernel_markers=kernel_markers, users=users)
    w1_marker, w2_marker = seeded["w1"].marker, seeded["w2"].marker

    def caller(name: str, user: str, space: Space, marker: str | None, can_write: bool = True) -> Caller:
        headers = {"X-Synchronex-Scope": str(space.id) if space.kind != Space.Kind.PERSONAL else "personal"}
        allowed = {kernel_markers[user]} | ({marker} if marker else set())
        return Caller(name, client_for(users[user]), users[user], space, headers, allowed, can_write)

    world.callers = [
        caller("stranger B", "b", personal["b"], None),
        caller("W1 viewer V", "v", w1, w1_marker, can_write=False),
        caller("W1 member M", "m", w1, w1_marker),
        caller("A in W1", "a", w1, w1_marker),
        caller("A in agency W2", "a", w2, w2_marker),
    ]
    return world


# -- assertions --------------------------------------------------------------------------------
def assert_clean(world: World, caller: Caller, response, *, echoed: str = "") -> None:
    """No marker the caller may not see, in the body or the headers (``echoed``: input sent back,
    in the body or in a header such as the ``Location`` of a product the caller created)."""
    text = response.text + " ".join(f"{k}: {v}" for k, v in response.headers.items())
    if echoed:
        text = text.replace(echoed, "")
    leaked = sorted(m for m in world.markers - caller.allowed if m in text)
    assert not leaked, f"{caller.name} saw {leaked} in {response.request.method} {response.url}: {text[:600]}"


def assert_not_found(response) -> None:
    assert response.status_code == 404, (
        f"{response.request.method} {response.url}: {response.status_code} {response.text}"
    )
    assert response.json()["error"]["code"] == "NOT_FOUND"


def assert_ok(response, status: int = 200):
    assert response.status_code == status, f"{response.request.method} {response.url}: {response.text[:600]}"
    return response


def assert_forbidden_role(response) -> None:
    assert response.status_code == 403, response.text
    assert response.json()["error"]["code"] == "FORBIDDEN"


def assert_sees_own(world: World, caller: Caller, response) -> None:
    """Positive evidence: a caller in a seeded space sees that space's marker."""
    own = world.own(caller)
    if own is not None:
        assert own.marker in response.text, f"{caller.name} does not see its own data: {response.text[:400]}"


def all_markers_query(world: World) -> str:
    return " or ".join(sorted(world.markers))


# -- the cases ---------------------------------------------------------------------------------
Case = Callable[[World, Caller], None]
CASES: dict[tuple[str, str], Case] = {}
# A valid request per route for the foreign-scope-header test, and what it must answer then.
SAMPLES: dict[tuple[str, str], Callable[[World], tuple[str, dict]]] = {}
HEADER_EXPECT: dict[tuple[str, str], Callable] = {}


def expect_not_found(response) -> None:
    assert_not_found(response)


def expect_success(response) -> None:
    """A route that acts on no scope (the caller's own workspaces): the header changes nothing."""
    assert response.status_code < 400, response.text


def case(method: str, route: str, sample=None, header_expect: Callable = expect_not_found):
    def register(func: Case) -> Case:
        CASES[(method, route)] = func
        SAMPLES[(method, route)] = sample or (lambda world: (route, {}))
        HEADER_EXPECT[(method, route)] = header_expect
        return func

    return register


IDENTITY = "/api/v1/memory/identity"


@case("GET", "/api/v1/scope")
def _scope_get(world, caller):
    body = assert_ok(caller.call("GET", "/api/v1/scope")).json()
    mine = set(Membership.objects.filter(user=caller.user).values_list("space_id", flat=True))
    assert {uuid.UUID(w["id"]) for w in body["available"]} <= mine
    assert body["workspace_id"] in (None, str(caller.space.pk))
    for workspace in world.workspaces():
        if workspace.pk not in mine:
            assert workspace.name not in str(body)


# PATCH stores the scope its body names; it acts on no active scope, so the header changes nothing.
@case(
    "PATCH",
    "/api/v1/scope",
    header_expect=expect_success,
    sample=lambda w: ("/api/v1/scope", {"json": {"workspace_id": None}}),
)
def _scope_patch(world, caller):
    stored = ActiveScope.objects.filter(user=caller.user).values_list("workspace_id", flat=True).first()
    mine = set(Membership.objects.filter(user=caller.user).values_list("space_id", flat=True))
    for workspace_id in [w.pk for w in world.workspaces() if w.pk not in mine] + [uuid.uuid4()]:
        assert_not_found(caller.call("PATCH", "/api/v1/scope", json={"workspace_id": str(workspace_id)}))
    assert ActiveScope.objects.filter(user=caller.user).values_list("workspace_id", flat=True).first() == stored


@case("GET", "/api/v1/workspaces", header_expect=expect_success)
def _workspaces_list(world, caller):
    response = assert_ok(caller.call("GET", "/api/v1/workspaces"))
    mine = set(Membership.objects.filter(user=caller.user).values_list("space_id", flat=True))
    assert {uuid.UUID(w["id"]) for w in response.json()["results"]} == mine
    for workspace in world.workspaces():
        assert (workspace.name in response.text) == (workspace.pk in mine)
    assert_clean(world, caller, response)


@case(
    "POST",
    "/api/v1/workspaces",
    header_expect=expect_success,
    sample=lambda w: ("/api/v1/workspaces", {"json": {"name": "x", "kind": "team"}}),
)
def _workspaces_create(world, caller):
    response = assert_ok(caller.call("POST", "/api/v1/workspaces", json={"name": "Fresh", "kind": "agency"}), 201)
    assert_clean(world, caller, response)
    assert Membership.objects.filter(space_id=response.json()["id"]).count() == 1


def _foreign_workspaces(world, caller) -> list[Space]:
    mine = set(Membership.objects.filter(user=caller.user).values_list("space_id", flat=True))
    return [w for w in world.workspaces() if w.pk not in mine]


@case(
    "GET",
    "/api/v1/workspaces/<str:workspace_id>",
    sample=lambda w: (f"/api/v1/workspaces/{w.seeded['w1'].space.pk}", {}),
)
def _workspace_get(world, caller):
    for workspace in _foreign_workspaces(world, caller):
        response = caller.call("GET", f"/api/v1/workspaces/{workspace.pk}")
        assert_not_found(response)
        assert workspace.name not in response.text
    if caller.space.kind != Space.Kind.PERSONAL:
        assert_clean(world, caller, assert_ok(caller.call("GET", f"/api/v1/workspaces/{caller.space.pk}")))


@case(
    "GET",
    "/api/v1/workspaces/<str:workspace_id>/members",
    sample=lambda w: (f"/api/v1/workspaces/{w.seeded['w1'].space.pk}/members", {}),
)
def _members_list(world, caller):
    for workspace in _foreign_workspaces(world, caller):
        response = caller.call("GET", f"/api/v1/workspaces/{workspace.pk}/members")
        assert_not_found(response)
        assert not any(m.user.email in response.text for m in Membership.objects.filter(space=workspace))
    if caller.space.kind != Space.Kind.PERSONAL:
        response = assert_ok(caller.call("GET", f"/api/v1/workspaces/{caller.space.pk}/members"))
        assert_clean(world, caller, response)
        assert response.json()["count"] == Membership.objects.filter(space=caller.space).count()


@case(
    "POST",
    "/api/v1/workspaces/<str:workspace_id>/members",
    sample=lambda w: (
        f"/api/v1/workspaces/{w.seeded['w1'].space.pk}/members",
        {"json": {"email": w.users["b"].email, "role": "member"}},
    ),
)
def _members_add(world, caller):
    for workspace in _foreign_workspaces(world, caller):
        response = caller.call(
            "POST", f"/api/v1/workspaces/{workspace.pk}/members", json={"email": caller.user.email, "role": "admin"}
        )
        assert_not_found(response)
        assert not Membership.objects.filter(space=workspace, user=caller.user).exists()


@case(
    "DELETE",
    "/api/v1/workspaces/<str:workspace_id>/members/<str:user_id>",
    sample=lambda w: (f"/api/v1/workspaces/{w.seeded['w1'].space.pk}/members/{w.users['m'].pk}", {}),
)
def _members_remove(world, caller):
    for workspace in _foreign_workspaces(world, caller):
        for member in Membership.objects.filter(space=workspace):
            assert_not_found(caller.call("DELETE", f"/api/v1/workspaces/{workspace.pk}/members/{member.user_id}"))
            assert Membership.objects.filter(pk=member.pk).exists()


@case("GET", IDENTITY)
def _identity_get(world, caller):
    response = assert_ok(caller.call("GET", IDENTITY))
    assert_clean(world, caller, response)
    assert_sees_own(world, caller, response)
    assert world.kernel_markers[_user_key(world, caller)] in response.json()["injection_block"]


def _user_key(world, caller) -> str:
    return next(name for name, user in world.users.items() if user.pk == caller.user.pk)


def _kernel_versions() -> dict:
    return dict(Kernel.objects.values_list("space_id", "version"))


@case("PUT", IDENTITY, sample=lambda w: (IDENTITY, {"json": {"identity": {"role": "x"}}}))
def _identity_put(world, caller):
    before = _kernel_versions()
    response = caller.call("PUT", IDENTITY, json={"identity": {"role": "Editor"}})
    after = _kernel_versions()
    if not caller.can_write:
        assert_forbidden_role(response)
        assert after == before
        return
    assert_ok(response)
    assert_clean(world, caller, response)
    changed = {space for space, version in after.items() if before.get(space) != version}
    assert changed == {caller.space.pk}


@case("GET", "/api/v1/memory/identity/history")
def _identity_history(world, caller):
    response = assert_ok(caller.call("GET", "/api/v1/memory/identity/history"))
    assert_clean(world, caller, response)
    assert response.json()["count"] == Kernel.objects.get(space=caller.space).revisions.count()


def _export_checks(world, caller, method: str):
    def export(**options):
        if method == "GET":
            return caller.call("GET", "/api/v1/kernel/export", params=options)
        return caller.call("POST", "/api/v1/kernel/export", json=options)

    for fmt in ("markdown", "json", "text"):
        response = assert_ok(export(format=fmt, query=all_markers_query(world), max_tokens=8000, decisions=20))
        assert_clean(world, caller, response)
        assert_sees_own(world, caller, response)
    for other in world.foreign(caller):
        response = export(product=other.product.name)
        assert_not_found(response)
        assert_clean(world, caller, response, echoed=other.product.name)
    own = world.own(caller)
    if own is not None:
        assert_clean(world, caller, assert_ok(export(product=own.product.name, query=all_markers_query(world))))


@case("GET", "/api/v1/kernel/export")
def _export_get(world, caller):
    _export_checks(world, caller, "GET")


@case("POST", "/api/v1/kernel/export", sample=lambda w: ("/api/v1/kernel/export", {"json": {}}))
def _export_post(world, caller):
    _export_checks(world, caller, "POST")


@case("GET", "/api/v1/memory/products")
def _products_list(world, caller):
    response = assert_ok(caller.call("GET", "/api/v1/memory/products", params={"limit": 100}))
    assert_clean(world, caller, response)
    assert_sees_own(world, caller, response)
    assert response.json()["count"] == ProductState.objects.filter(space=caller.space).count()


def _state_path(name: str) -> str:
    return f"/api/v1/memory/product/{quote(name, safe='')}/state"


@case(
    "GET", "/api/v1/memory/product/<path:name>/state", sample=lambda w: (_state_path(w.seeded["w1"].product.name), {})
)
def _state_get(world, caller):
    for other in world.foreign(caller):
        response = caller.call("GET", _state_path(other.product.name))
        assert_not_found(response)
        assert_clean(world, caller, response, echoed=other.product.name)
    own = world.own(caller)
    if own is not None:
        assert_clean(world, caller, assert_ok(caller.call("GET", _state_path(own.product.name))))


@case(
    "POST",
    "/api/v1/memory/product/<path:name>/state",
    sample=lambda w: (_state_path(w.seeded["w1"].product.name), {"json": {"status": "paused"}}),
)
def _state_post(world, caller):
    for other in world.foreign(caller):
        before = ProductState.objects.get(pk=other.product.pk)
        response = caller.call("POST", _state_path(other.product.name), json={"open_questions": ["mine"]})
        if not caller.can_write:
            assert_forbidden_role(response)
        else:
            assert response.status_code in (200, 201), response.text
            body = response.json()
            assert body["what_works"] == [] and body["open_questions"] == ["mine"]
            assert_clean(world, caller, response, echoed=other.product.name)
        after = ProductState.objects.get(pk=other.product.pk)
        assert (after.version, after.open_questions, after.space_id) == (
            before.version,
            before.open_questions,
            before.space_id,
        )


@case(
    "POST",
    "/api/v1/memory/decisions",
    sample=lambda w: ("/api/v1/memory/decisions", {"json": {"decision": "x", "product_name": "p"}}),
)
def _decision_create(world, caller):
    for other in world.foreign(caller):
        body = {"decision": "Mine", "product_name": "Own product", "supersedes": str(other.decision.pk)}
        response = caller.call("POST", "/api/v1/memory/decisions", json=body)
        if caller.can_write:
            assert_not_found(response)
        else:
            assert_forbidden_role(response)
        assert Decision.objects.get(pk=other.decision.pk).superseded_by_id is None
    assert not Decision.objects.filter(decision="Mine").exists()


@case(
    "GET",
    "/api/v1/memory/decisions/<str:decision_id>",
    sample=lambda w: (f"/api/v1/memory/decisions/{w.seeded['w1'].decision.pk}", {}),
)
def _decision_get(world, caller):
    for other in world.foreign(caller):
        assert_not_found(caller.call("GET", f"/api/v1/memory/decisions/{other.decision.pk}"))
    own = world.own(caller)
    if own is not None:
        assert_clean(world, caller, assert_ok(caller.call("GET", f"/api/v1/memory/decisions/{own.decision.pk}")))


@case(
    "DELETE",
    "/api/v1/memory/decisions/<str:decision_id>",
    sample=lambda w: (f"/api/v1/memory/decisions/{w.seeded['w1'].decision.pk}", {}),
)
def _decision_delete(world, caller):
    for other in world.foreign(caller):
        foreign = caller.call("DELETE", f"/api/v1/memory/decisions/{other.decision.pk}")
        unknown = caller.call("DELETE", f"/api/v1/memory/decisions/{uuid.uuid4()}")
        if caller.can_write:
            assert_not_found(foreign)
        else:
            assert_forbidden_role(foreign)
        assert (foreign.status_code, foreign.json()["error"]["code"]) == (
            unknown.status_code,
            unknown.json()["error"]["code"],
        )
        assert Decision.objects.filter(pk=other.decision.pk).exists()


@case("GET", "/api/v1/memory/decisions/search")
def _decision_search(world, caller):
    for params in ({"q": all_markers_query(world), "limit": 100}, {"limit": 100}):
        response = assert_ok(caller.call("GET", "/api/v1/memory/decisions/search", params=params))
        assert_clean(world, caller, response)
        assert_sees_own(world, caller, response)
    for other in world.foreign(caller):
        response = assert_ok(
            caller.call("GET", "/api/v1/memory/decisions/search", params={"product": other.product.name})
        )
        assert response.json()["count"] == 0


@case("GET", "/api/v1/memory/search", sample=lambda w: ("/api/v1/memory/search", {"params": {"q": "x"}}))
def _memory_search(world, caller):
    response = assert_ok(
        caller.call("GET", "/api/v1/memory/search", params={"q": all_markers_query(world), "limit": 100})
    )
    assert_clean(world, caller, response)
    own = world.own(caller)
    if own is not None:
        types = {hit["type"] for hit in response.json()["results"]}
        assert types == {"identity", "product", "decision", "memory", "signal"}, types
    for other in world.foreign(caller):
        response = assert_ok(
            caller.call("GET", "/api/v1/memory/search", params={"q": other.marker, "product": other.product.name})
        )
        assert response.json()["count"] == 0


@case("GET", "/api/v1/ai/costs")
def _costs(world, caller):
    response = assert_ok(caller.call("GET", "/api/v1/ai/costs", params={"days": 365}))
    assert_clean(world, caller, response)
    assert_sees_own(world, caller, response)
    assert response.json()["requests"] == (1 if world.own(caller) else 0)


@case(
    "GET",
    "/api/v1/ai/costs/<path:product>",
    sample=lambda w: (f"/api/v1/ai/costs/{quote(w.seeded['w1'].product.name)}", {}),
)
def _costs_product(world, caller):
    for other in world.foreign(caller):
        response = caller.call("GET", f"/api/v1/ai/costs/{quote(other.product.name, safe='')}")
        assert_not_found(response)
        assert_clean(world, caller, response, echoed=other.product.name)
    own = world.own(caller)
    if own is not None:
        response = assert_ok(caller.call("GET", f"/api/v1/ai/costs/{quote(own.product.name, safe='')}"))
        assert_clean(world, caller, response)
        assert response.json()["requests"] == 1


@case("GET", "/api/v1/byok")
def _byok_list(world, caller):
    response = assert_ok(caller.call("GET", "/api/v1/byok"))
    assert_clean(world, caller, response)
    assert_sees_own(world, caller, response)
    assert response.json()["count"] == ByokCredential.objects.filter(space=caller.space).count()
    for seeded in world.seeded.values():
        assert seeded.secret not in response.text


@case(
    "POST",
    "/api/v1/byok",
    sample=lambda w: ("/api/v1/byok", {"json": {"service": "openai", "label": "x", "key": "sk-" + "x" * 30}}),
)
def _byok_create(world, caller):
    for index, other in enumerate(world.foreign(caller)):
        # Another space's secret is no duplicate here: fingerprints never compare across spaces.
        body = {"service": "openai", "label": f"mine {index}", "key": other.secret}
        response = caller.call("POST", "/api/v1/byok", json=body)
        if caller.can_write:
            assert_ok(response, 201)
            assert_clean(world, caller, response)
            # Callers of one space run one after the other: leave the space as it was.
            ByokCredential.objects.filter(pk=response.json()["id"]).delete()
        else:
            assert_forbidden_role(response)
        assert ByokCredential.objects.filter(space=other.space).count() == 1


@case(
    "DELETE", "/api/v1/byok/<str:credential_id>", sample=lambda w: (f"/api/v1/byok/{w.seeded['w1'].credential.pk}", {})
)
def _byok_delete(world, caller):
    for other in world.foreign(caller):
        response = caller.call("DELETE", f"/api/v1/byok/{other.credential.pk}")
        if caller.can_write:
            assert_not_found(response)
        else:
            assert_forbidden_role(response)
        assert ByokCredential.objects.filter(pk=other.credential.pk).exists()


@case(
    "POST",
    "/api/v1/ingest/<path:project_id>",
    sample=lambda w: (f"/api/v1/ingest/{w.seeded['w1'].product.pk}", {"json": {"type": "note", "title": "x"}}),
)
def _ingest(world, caller):
    for other in world.foreign(caller):
        before = Signal.objects.filter(product=other.product).count()
        by_id = caller.call("POST", f"/api/v1/ingest/{other.product.pk}", json={"type": "note", "title": "mine"})
        by_name = caller.call(
            "POST", f"/api/v1/ingest/{quote(other.product.name, safe='')}", json={"type": "blocker", "title": "mine"}
        )
        if caller.can_write:
            assert_not_found(by_id)
            assert_ok(by_name, 202)
            assert by_name.json()["product"]["id"] != str(other.product.pk)
            assert_clean(world, caller, by_name, echoed=other.product.name)
        else:
            assert_forbidden_role(by_id)
            assert_forbidden_role(by_name)
        assert Signal.objects.filter(product=other.product).count() == before


@case("POST", "/api/v1/memory/consolidate", sample=lambda w: ("/api/v1/memory/consolidate", {"json": {}}))
def _consolidate(world, caller):
    foreign_jobs = {str(other.job.pk) for other in world.foreign(caller)}
    response = caller.call("POST", "/api/v1/memory/consolidate", json={"dry_run": True})
    if not caller.can_write:
        assert_forbidden_role(response)
        return
    assert_ok(response, 202)
    assert response.json()["job_id"] not in foreign_jobs
    assert ConsolidationJob.objects.get(pk=response.json()["job_id"]).space_id == caller.space.pk
    for other in world.foreign(caller):
        response = caller.call("POST", "/api/v1/memory/consolidate", json={"product": other.product.name})
        assert_not_found(response)
        assert_clean(world, caller, response, echoed=other.product.name)


@case(
    "GET",
    "/api/v1/memory/consolidate/<str:job_id>",
    sample=lambda w: (f"/api/v1/memory/consolidate/{w.seeded['w1'].job.pk}", {}),
)
def _consolidation_job(world, caller):
    for other in world.foreign(caller):
        assert_not_found(caller.call("GET", f"/api/v1/memory/consolidate/{other.job.pk}"))
    own = world.own(caller)
    if own is not None:
        assert_clean(world, caller, assert_ok(caller.call("GET", f"/api/v1/memory/consolidate/{own.job.pk}")))


@case("GET", "/api/v1/memory/export-mif")
def _mif_export(world, caller):
    for fmt in ("json", "markdown"):
        response = assert_ok(
            caller.call("GET", "/api/v1/memory/export-mif", params={"format": fmt, "include_embeddings": "true"})
        )
        assert_clean(world, caller, response)
        assert_sees_own(world, caller, response)
        for seeded in world.seeded.values():
            assert seeded.secret not in response.text


@case(
    "POST",
    "/api/v1/memory/import-mif",
    sample=lambda w: ("/api/v1/memory/import-mif", {"json": {"mif_version": "2.0", "memories": []}}),
)
def _mif_import(world, caller):
    for other in world.foreign(caller):
        # The same id and the same content as another space's memory: no duplicate here.
        memory = {
            "id": str(other.memory.memory_id),
            "content": other.memory.content,
            "created_at": "2026-01-01T00:00:00Z",
        }
        response = caller.call("POST", "/api/v1/memory/import-mif", json={"mif_version": "2.0", "memories": [memory]})
        if not caller.can_write:
            assert_forbidden_role(response)
        else:
            body = assert_ok(response).json()
            assert (body["memories_imported"], body["duplicates_skipped"], body["errors"]) == (1, 0, [])
            assert_clean(world, caller, response)
            # Callers of one space run one after the other: leave the space as it was.
            Memory.objects.filter(space=caller.space, memory_id=other.memory.memory_id).delete()
        stored = Memory.objects.get(pk=other.memory.pk)
        assert (stored.space_id, stored.content) == (other.space.pk, other.memory.content)


# -- MCP: /mcp (one route, many tools; every tool needs a case) and /api/v1/sessions ---------------
MCP_HEADERS = {"Accept": "application/json", "MCP-Protocol-Version": LATEST_VERSION}
MCP_TOOL_CASES: dict[str, Case] = {}


def mcp_tool_case(name: str):
    def register(func: Case) -> Case:
        MCP_TOOL_CASES[name] = func
        return func

    return register


def mcp_call(caller: Caller, name: str, arguments: dict):
    """``(response, result)`` of one tools/call; ``result`` is the tool's JSON (or error envelope)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
    response = caller.call("POST", "/mcp", json=body, headers=MCP_HEADERS)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    return response, {"is_error": result["isError"], **result["structuredContent"]}


def assert_tool_error(result: dict, code: str) -> None:
    assert result["is_error"] is True and result["error"]["code"] == code, result


def assert_tool_ok(result: dict) -> dict:
    assert result["is_error"] is False, result
    return result


def assert_tool_write_refused_or(caller: Caller, result: dict, code: str | None) -> None:
    """A viewer's write is FORBIDDEN; a writer's gets ``code`` (None: success)."""
    if not caller.can_write:
        assert_tool_error(result, "FORBIDDEN")
    elif code is None:
        assert_tool_ok(result)
    else:
        assert_tool_error(result, code)


@mcp_tool_case("get_identity_kernel")
def _mcp_kernel(world, caller):
    response, result = mcp_call(caller, "get_identity_kernel", {})
    assert_tool_ok(result)
    assert_clean(world, caller, response)
    assert world.kernel_markers[_user_key(world, caller)] in result["injection_block"]
    for other in world.foreign(caller):
        response, result = mcp_call(caller, "get_identity_kernel", {"session_id": str(other.session.pk)})
        assert_tool_error(result, "NOT_FOUND")
        assert McpSession.objects.get(pk=other.session.pk).kernel_loaded_at is None


def _mcp_product_read(name: str) -> Case:
    def check(world, caller):
        for other in world.foreign(caller):
            response, result = mcp_call(caller, name, {"product_name": other.product.name})
            assert_tool_error(result, "NOT_FOUND")
            assert_clean(world, caller, response, echoed=other.product.name)
        own = world.own(caller)
        if own is not None:
            response, result = mcp_call(caller, name, {"product_name": own.product.name})
            assert_tool_ok(result)
            assert_clean(world, caller, response)

    return check


for _name in ("get_product_state", "get_session_handoff"):
    MCP_TOOL_CASES[_name] = _mcp_product_read(_name)


@mcp_tool_case("search_decisions")
def _mcp_search(world, caller):
    response, result = mcp_call(caller, "search_decisions", {"query": all_markers_query(world), "limit": 100})
    assert_tool_ok(result)
    assert_clean(world, caller, response)
    assert_sees_own(world, caller, response)
    for other in world.foreign(caller):
        response, result = mcp_call(
            caller, "search_decisions", {"query": other.marker, "product_name": other.product.name}
        )
        assert assert_tool_ok(result)["count"] == 0


@mcp_tool_case("log_decision")
def _mcp_log_decision(world, caller):
    for other in world.foreign(caller):
        args = {"decision": "Mine", "product_name": "Own product", "supersedes": str(other.decision.pk)}
        _, result = mcp_call(caller, "log_decision", args)
        assert_tool_write_refused_or(caller, result, "NOT_FOUND")
        assert Decision.objects.get(pk=other.decision.pk).superseded_by_id is None
    assert not Decision.objects.filter(decision="Mine").exists()


@mcp_tool_case("update_product_state")
def _mcp_update_state(world, caller):
    for other in world.foreign(caller):
        before = ProductState.objects.get(pk=other.product.pk)
        args = {"product_name": other.product.name, "open_questions": ["mine"]}
        response, result = mcp_call(caller, "update_product_state", args)
        assert_tool_write_refused_or(caller, result, None)
        if caller.can_write:
            assert result["what_works"] == [] and result["open_questions"] == ["mine"]
            assert_clean(world, caller, response, echoed=other.product.name)
        assert ProductState.objects.get(pk=other.product.pk).version == before.version


@mcp_tool_case("register_session")
def _mcp_register(world, caller):
    for other in world.foreign(caller):
        response, result = mcp_call(caller, "register_session", {"product_name": other.product.name})
        assert_tool_write_refused_or(caller, result, None)
        if caller.can_write:
            assert McpSession.objects.get(pk=result["session_id"]).space_id == caller.space.pk
            assert_clean(world, caller, response, echoed=other.product.name)
        assert McpSession.objects.filter(product=other.product).count() == 1


@mcp_tool_case("end_session")
def _mcp_end(world, caller):
    for other in world.foreign(caller):
        args = {"session_id": str(other.session.pk), "summary": "Mine"}
        response, result = mcp_call(caller, "end_session", args)
        assert_tool_write_refused_or(caller, result, "NOT_FOUND")
        assert_clean(world, caller, response)
        assert McpSession.objects.get(pk=other.session.pk).ended_at is None


@mcp_tool_case("check_memory_confidence")
def _mcp_confidence(world, caller):
    block = "## Identity\nSomeone\n\n## Never\n- Guess"
    response, result = mcp_call(caller, "check_memory_confidence", {"context_block": block})
    assert_tool_ok(result)
    assert_clean(world, caller, response)
    for other in world.foreign(caller):
        args = {"context_block": block, "product_name": other.product.name}
        response, result = mcp_call(caller, "check_memory_confidence", args)
        assert_tool_error(result, "NOT_FOUND")
        assert_clean(world, caller, response, echoed=other.product.name)
    own = world.own(caller)
    if own is not None:
        args = {"context_block": block, "product_name": own.product.name}
        response, result = mcp_call(caller, "check_memory_confidence", args)
        assert_tool_ok(result)
        assert_clean(world, caller, response)
        assert_sees_own(world, caller, response)  # its superseded decision, its product's facts


@mcp_tool_case("export_memories")
def _mcp_export(world, caller):
    for fmt in ("json", "markdown"):
        response, result = mcp_call(caller, "export_memories", {"format": fmt, "include_embeddings": True})
        assert_tool_ok(result)
        assert_clean(world, caller, response)
        assert_sees_own(world, caller, response)
        for seeded in world.seeded.values():
            assert seeded.secret not in response.text


@mcp_tool_case("import_memories")
def _mcp_import(world, caller):
    for other in world.foreign(caller):
        memory = {
            "id": str(other.memory.memory_id),
            "content": other.memory.content,
            "created_at": "2026-01-01T00:00:00Z",
        }
        document = {"mif_version": "2.0", "memories": [memory]}
        response, result = mcp_call(caller, "import_memories", {"document": document})
        assert_tool_write_refused_or(caller, result, None)
        if caller.can_write:
            assert (result["memories_imported"], result["duplicates_skipped"], result["errors"]) == (1, 0, [])
            assert_clean(world, caller, response)
            Memory.objects.filter(space=caller.space, memory_id=other.memory.memory_id).delete()
        stored = Memory.objects.get(pk=other.memory.pk)
        assert (stored.space_id, stored.content) == (other.space.pk, other.memory.content)


def _mcp_sample(world):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "get_identity_kernel"}}
    return "/mcp", {"json": body, "headers": MCP_HEADERS}


def _mcp_header_expect(response) -> None:
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["isError"] is True and result["structuredContent"]["error"]["code"] == "NOT_FOUND", result


@case("POST", "/mcp", sample=_mcp_sample, header_expect=_mcp_header_expect)
def _mcp_post(world, caller):
    """The protocol messages; each tool has its own case (``test_no_mcp_tool_crosses_spaces``)."""
    for method in ("initialize", "tools/list", "ping"):
        params = {"protocolVersion": LATEST_VERSION, "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params if method == "initialize" else {}}
        response = assert_ok(caller.call("POST", "/mcp", json=body, headers=MCP_HEADERS))
        assert "result" in response.json(), response.text
        assert_clean(world, caller, response)


def _method_not_allowed(response) -> None:
    assert response.status_code == 405, response.text


@case("GET", "/mcp", header_expect=_method_not_allowed)
@case("DELETE", "/mcp", header_expect=_method_not_allowed)
def _mcp_no_stream(world, caller):
    """Stateless: no stream to GET, no session to DELETE; nothing is served either way."""
    for method in ("GET", "DELETE"):
        response = caller.call(method, "/mcp", headers=MCP_HEADERS)
        _method_not_allowed(response)
        assert_clean(world, caller, response)


@case("GET", "/api/v1/sessions")
def _sessions_list(world, caller):
    response = assert_ok(caller.call("GET", "/api/v1/sessions", params={"limit": 100}))
    assert_clean(world, caller, response)
    assert_sees_own(world, caller, response)
    assert response.json()["count"] == McpSession.objects.filter(space=caller.space).count()


# -- the tests ---------------------------------------------------------------------------------
def test_every_api_route_has_an_isolation_case():
    routes = api_routes()
    assert routes, "the resolver yielded no API routes"
    missing = sorted(routes - set(CASES))
    stale = sorted(set(CASES) - routes)
    assert not missing, f"routes without an isolation case: {missing}"
    assert not stale, f"isolation cases for routes that no longer exist: {stale}"


def test_enumeration_sees_every_route_kind():
    """The walk itself: nested includes, converters, the schema routes left out."""
    routes = api_routes()
    assert ("GET", "/api/v1/memory/product/<path:name>/state") in routes
    assert ("DELETE", "/api/v1/workspaces/<str:workspace_id>/members/<str:user_id>") in routes
    assert not any(path.startswith(("/api/v1/openapi", "/api/v1/docs")) for _, path in routes)
    assert not any(path.startswith(("/admin", "/api/oauth")) for _, path in routes)


@pytest.mark.parametrize("key", sorted(CASES), ids=lambda key: f"{key[0]} {key[1]}")
def test_nothing_crosses_spaces(world, key):
    for caller in world.callers:
        try:
            CASES[key](world, caller)
        except AssertionError as exc:
            raise AssertionError(f"[{caller.name}] {exc}") from exc


@pytest.mark.parametrize("tool", sorted(MCP_TOOL_CASES))
def test_no_mcp_tool_crosses_spaces(world, tool):
    for caller in world.callers:
        try:
            MCP_TOOL_CASES[tool](world, caller)
        except AssertionError as exc:
            raise AssertionError(f"[{caller.name}] {exc}") from exc


def test_every_mcp_tool_has_an_isolation_case():
    missing = sorted(set(TOOLS) - set(MCP_TOOL_CASES))
    stale = sorted(set(MCP_TOOL_CASES) - set(TOOLS))
    assert not missing, f"MCP tools without an isolation case: {missing}"
    assert not stale, f"isolation cases for MCP tools that no longer exist: {stale}"


def test_a_foreign_scope_header_is_not_found_on_every_route(world):
    """A non-member naming a workspace in X-Synchronex-Scope gets NOT_FOUND everywhere."""
    stranger = next(c for c in world.callers if c.name == "stranger B")
    for workspace in world.workspaces():
        for key in sorted(SAMPLES):
            path, kwargs = SAMPLES[key](world)
            headers = {**kwargs.pop("headers", {}), "X-Synchronex-Scope": str(workspace.pk)}
            response = stranger.call(key[0], path, headers=headers, **kwargs)
            assert_clean(world, stranger, response)
            try:
                HEADER_EXPECT[key](response)
            except AssertionError as exc:
                raise AssertionError(f"{key} with a foreign scope header: {exc}") from exc
