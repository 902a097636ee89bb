"""Several clients writing the same resource at once, over real HTTP on the live server (one
thread per request) and the real PostgreSQL: the outcome is one that the same requests sent one
after another could have had, never a 500, a fork or a duplicate.

- Supersedes of one decision: one successor, the others CONFLICT (SPEC §6).
- One new product named in several spellings by state writes, decisions or ingest: one product.
- BYOK keys with one label (any case) or one secret: one stored, the others CONFLICT (SPEC §9).
- Deletes of one decision, one BYOK key, one member: one 204, the others NOT_FOUND.
- First scope PATCHes of an account: one stored scope.
- Refreshes of one refresh token, exchanges of one code: at most one pair (SPEC §10).
- Imports of one content under different ids: stored once (SPEC §8).
"""

from __future__ import annotations

import pytest
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from apps.byok.models import ByokCredential
from apps.byok.tests.helpers import URL as BYOK_URL
from apps.byok.tests.helpers import fresh_key
from apps.decisions.models import Decision
from apps.ingest.models import Signal
from apps.memory.models import Memory
from apps.oauth.tests.helpers import (
    authorize_params,
    consent,
    exchange,
    login,
    obtain_tokens,
    pkce_pair,
    redirect_query,
    refresh,
    register_client,
)
from apps.products.models import ProductState
from apps.scopes.models import ActiveScope, Membership
from tests.support.concurrency import together

pytestmark = pytest.mark.django_db(transaction=True)

CLIENTS = 6
AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()


def statuses(responses) -> list[int]:
    return sorted(r.status_code for r in responses)


def test_parallel_supersedes_of_one_decision_make_one_successor(client_for, user):
    api = client_for(user)
    first = api.post("/api/v1/memory/decisions", json={"decision": "Use Postgres", "product_name": "Atlas"})
    assert first.status_code == 201, first.text
    target = first.json()["id"]

    def supersede(i):
        body = {"decision": f"Use Postgres {i}", "product_name": "Atlas", "supersedes": target}
        return api.as_token(api.token).post("/api/v1/memory/decisions", json=body)

    responses = together(CLIENTS, supersede)
    assert statuses(responses) == [201] + [409] * (CLIENTS - 1), [r.text for r in responses]
    for lost in (r for r in responses if r.status_code == 409):
        assert lost.json()["error"]["code"] == "CONFLICT"
    winner = next(r for r in responses if r.status_code == 201).json()
    assert str(Decision.objects.get(pk=target).superseded_by_id) == winner["id"]
    assert Decision.objects.filter(supersedes_id=target).count() == 1
    assert Decision.objects.count() == 2


def test_parallel_state_writes_of_one_new_product_in_several_spellings_make_one_product(client_for, user):
    spellings = ["Nova", "nova", "NOVA", "NoVa", "nOVA", "Nova "]

    api = client_for(user)

    def write(i):
        return api.as_token(api.token).post(
            f"/api/v1/memory/product/{spellings[i]}/state", json={"what_works": [f"from {i}"]}
        )

    responses = together(CLIENTS, write)
    assert statuses(responses) == [200] * (CLIENTS - 1) + [201], [r.text for r in responses]
    assert ProductState.objects.filter(space__owner=user).count() == 1
    final = api.get("/api/v1/memory/product/nova/state").json()
    assert final["version"] == CLIENTS  # each write applied, one after another


def test_parallel_decisions_naming_one_new_product_in_several_spellings_make_it_once(client_for, user):
    api = client_for(user)

    def decide(i):
        body = {"decision": f"Decision {i}", "product_name": ["Orion", "orion", "ORION"][i % 3]}
        return api.as_token(api.token).post("/api/v1/memory/decisions", json=body)

    responses = together(CLIENTS, decide)
    assert statuses(responses) == [201] * CLIENTS, [r.text for r in responses]
    assert ProductState.objects.filter(space__owner=user).count() == 1
    assert {r.json()["product_name"] for r in responses} == {ProductState.objects.get(space__owner=user).name}


def test_parallel_ingest_into_one_new_project_makes_one_product(client_for, user):
    api = client_for(user)

    def send(i):
        body = {"signals": [{"type": "note", "title": f"note {i}"}, {"type": "decision", "title": f"dec {i}"}]}
        return api.as_token(api.token).post(f"/api/v1/ingest/{['Lyra', 'lyra', 'LYRA'][i % 3]}", json=body)

    responses = together(CLIENTS, send)
    assert statuses(responses) == [202] * CLIENTS, [r.text for r in responses]
    assert ProductState.objects.filter(space__owner=user).count() == 1
    assert Signal.objects.filter(space__owner=user).count() == 2 * CLIENTS
    assert Decision.objects.filter(space__owner=user).count() == CLIENTS


def test_parallel_byok_creates_with_one_label_store_one(client_for, user):
    api = client_for(user)

    def create(i):
        body = {"service": "openai", "label": ["main", "Main", "MAIN"][i % 3], "key": fresh_key("openai")}
        return api.as_token(api.token).post(BYOK_URL, json=body)

    responses = together(CLIENTS, create)
    assert statuses(responses) == [201] + [409] * (CLIENTS - 1), [r.text for r in responses]
    assert ByokCredential.objects.filter(space__owner=user).count() == 1


def test_parallel_byok_creates_of_one_secret_store_it_once(client_for, user):
    key, api = fresh_key("openai"), client_for(user)

    def create(i):
        return api.as_token(api.token).post(BYOK_URL, json={"service": "openai", "label": f"l{i}", "key": key})

    responses = together(CLIENTS, create)
    assert statuses(responses) == [201] + [409] * (CLIENTS - 1), [r.text for r in responses]
    assert ByokCredential.objects.filter(space__owner=user).count() == 1


def test_parallel_deletes_of_one_decision_one_204(client_for, user):
    api = client_for(user)
    made = api.post("/api/v1/memory/decisions", json={"decision": "Drop", "product_name": "Atlas"}).json()
    responses = together(CLIENTS, lambda i: api.as_token(api.token).delete(f"/api/v1/memory/decisions/{made['id']}"))
    assert statuses(responses) == [204] + [404] * (CLIENTS - 1), [r.text for r in responses]


def test_parallel_deletes_of_one_byok_credential_one_204(client_for, user):
    api = client_for(user)
    made = api.post(BYOK_URL, json={"service": "openai", "label": "x", "key": fresh_key("openai")}).json()
    responses = together(CLIENTS, lambda i: api.as_token(api.token).delete(f"{BYOK_URL}/{made['id']}"))
    assert statuses(responses) == [204] + [404] * (CLIENTS - 1), [r.text for r in responses]


def test_parallel_first_scope_patches_store_one_scope(client_for, make_user):
    owner = make_user(tier="team")
    api = client_for(owner)
    ws = api.post("/api/v1/workspaces", json={"name": "W", "kind": "team"}).json()

    def patch(i):
        return api.as_token(api.token).patch("/api/v1/scope", json={"workspace_id": ws["id"] if i % 2 else None})

    responses = together(CLIENTS, patch)
    assert statuses(responses) == [200] * CLIENTS, [r.text for r in responses]
    assert ActiveScope.objects.filter(user=owner).count() == 1


def test_parallel_member_removals_one_204(client_for, make_user):
    owner = make_user(tier="team")
    api = client_for(owner)
    ws = api.post("/api/v1/workspaces", json={"name": "W", "kind": "team"}).json()
    member = make_user()
    assert api.post(f"/api/v1/workspaces/{ws['id']}/members", json={"email": member.email, "role": "member"}).ok
    responses = together(
        CLIENTS, lambda i: api.as_token(api.token).delete(f"/api/v1/workspaces/{ws['id']}/members/{member.id}")
    )
    assert statuses(responses) == [204] + [404] * (CLIENTS - 1), [r.text for r in responses]
    assert not Membership.objects.filter(user=member).exists()


def test_parallel_refreshes_of_one_token_issue_one_pair(base_url, person):
    client, tokens = obtain_tokens(base_url, person.email)
    responses = together(CLIENTS, lambda i: refresh(base_url, client["client_id"], tokens["refresh_token"]))
    assert statuses(responses) == [200] + [400] * (CLIENTS - 1), [r.text for r in responses]
    for lost in (r for r in responses if r.status_code == 400):
        assert lost.json() == {"error": "invalid_grant"}
    assert AccessToken.objects.filter(user=person).count() <= 1


def test_parallel_exchanges_of_one_code_issue_at_most_one_pair(base_url, person):
    client = register_client(base_url)
    verifier, challenge = pkce_pair()
    session = login(base_url, person.email)
    code = redirect_query(consent(session, base_url, authorize_params(client["client_id"], challenge)))["code"]
    responses = together(CLIENTS, lambda i: exchange(base_url, client["client_id"], code, verifier))
    codes = statuses(responses)
    assert codes.count(200) <= 1 and set(codes) <= {200, 400}, [r.text for r in responses]
    for lost in (r for r in responses if r.status_code == 400):
        assert lost.json()["error"] == "invalid_grant"
    assert AccessToken.objects.filter(user=person).count() <= 1


def test_parallel_imports_of_one_content_under_different_ids_store_it_once(client_for, user):
    api = client_for(user)

    def send(i):
        body = [
            {"id": f"src{i}-{n}", "memory": f"Shared memory {n}", "created_at": "2025-01-01T00:00:00Z"}
            for n in range(5)
        ]
        return api.as_token(api.token).post("/api/v1/memory/import-mif", json=body)

    responses = together(CLIENTS, send)
    assert statuses(responses) == [200] * CLIENTS, [r.text for r in responses]
    reports = [r.json() for r in responses]
    assert all(r["errors"] == [] for r in reports), reports
    assert sum(r["memories_imported"] for r in reports) == 5, reports
    assert sum(r["duplicates_skipped"] for r in reports) == 5 * (CLIENTS - 1), reports
    assert Memory.objects.filter(space__owner=user).count() == 5
