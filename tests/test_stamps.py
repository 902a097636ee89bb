"""Context stamps (synchronex/api/stamps.py): what a process remembers between an account's
requests is dropped by every change it depends on, however the change is made and in whichever
process; and the key lookup that carries the stamp counts each request exactly once."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack
from types import SimpleNamespace

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.accounts.models import ApiKey
from apps.byok.models import ByokCredential
from apps.byok.services import byok_credential_create, byok_credential_delete
from apps.byok.tests.helpers import fresh_key
from apps.decisions.models import Decision
from apps.identity.services import kernel_update
from apps.memory.models import EmbeddingSettings
from apps.memory.tests.fake_openai import FakeEmbeddingServer, bag_of_words_vector
from apps.scopes.models import ActiveScope, Membership, Role, Space
from apps.scopes.services import member_put, space_ensure_personal, workspace_create
from synchronex.api.models import ContextStamp
from tests.support import servers
from tests.support.concurrency import on_thread
from tests.support.quota import wait_for_fresh_minute_margin

pytestmark = pytest.mark.django_db
IDENTITY = "/api/v1/memory/identity"
SEARCH = "/api/v1/memory/decisions/search"


def stamp(user) -> int:
    return ContextStamp.objects.filter(user_id=user.pk).values_list("stamp", flat=True).first() or 0


def stamps(*users) -> list[int]:
    return [stamp(user) for user in users]


def changed(before: list[int], after: list[int]) -> list[bool]:
    return [a != b for a, b in zip(before, after, strict=True)]


@pytest.fixture
def team(make_user):
    """A team workspace of ``owner`` with ``member``, and ``outsider`` with nothing to do with it."""
    owner, member, outsider = (make_user(tier="team") for _ in range(3))
    space = workspace_create(owner=owner, name="Studio", kind="team")
    owner_membership = Membership.objects.get(space=space, role=Role.OWNER)
    member_put(actor_membership=owner_membership, user=member, role=Role.MEMBER)
    return {"space": space, "owner": owner, "member": member, "outsider": outsider}


# --- the triggers ------------------------------------------------------------------------------
def test_a_personal_kernel_write_stamps_its_owner_only(make_user, inproc_for):
    ada, bob = make_user(), make_user()
    before = stamps(ada, bob)
    assert inproc_for(ada).put(IDENTITY, {"identity": {"name": "Ada"}}, format="json").status_code == 200
    assert changed(before, stamps(ada, bob)) == [True, False]


def test_workspace_changes_stamp_the_owner_and_every_member(team, inproc_for):
    people = (team["owner"], team["member"], team["outsider"])
    header = {"HTTP_X_SYNCHRONEX_SCOPE": str(team["space"].id)}

    before = stamps(*people)
    response = inproc_for(team["member"]).put(IDENTITY, {"identity": {"name": "Studio"}}, format="json", **header)
    assert response.status_code == 200
    assert changed(before, stamps(*people)) == [True, True, False]  # the workspace layer

    before = stamps(*people)
    team["space"].name = "Studio 2"
    team["space"].save()
    assert changed(before, stamps(*people)) == [True, True, False]


def test_a_role_change_and_a_stored_scope_change_stamp_their_user(team):
    people = (team["owner"], team["member"], team["outsider"])
    before = stamps(*people)
    Membership.objects.filter(space=team["space"], user=team["member"]).update(role=Role.VIEWER)
    assert changed(before, stamps(*people)) == [False, True, False]

    before = stamps(*people)
    ActiveScope.objects.create(user=team["outsider"], workspace=None)
    assert changed(before, stamps(*people)) == [False, False, True]


def test_a_join_or_a_leave_stamps_everyone_in_the_workspace(team, make_user):
    """What a workspace hands out is redacted of every member's personal keys: who is a member
    changes it for everyone there, however the membership is written."""
    newcomer = make_user()
    people = (team["owner"], team["member"], newcomer, team["outsider"])
    before = stamps(*people)
    Membership.objects.create(space=team["space"], user=newcomer, role=Role.MEMBER)
    assert changed(before, stamps(*people)) == [True, True, True, False]

    before = stamps(*people)
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM scopes_membership WHERE space_id = %s AND user_id = %s", [team["space"].pk, newcomer.pk]
        )
    assert changed(before, stamps(*people)) == [True, True, True, False]

    before = stamps(*people)  # a membership moved to another user: one leaves, one joins
    Membership.objects.filter(space=team["space"], user=team["member"]).update(user=newcomer)
    assert changed(before, stamps(*people)) == [True, True, True, False]


def test_a_user_change_stamps_them_and_the_members_of_their_workspaces(team):
    people = (team["owner"], team["member"], team["outsider"])
    before = stamps(*people)
    team["owner"].tier = "free"  # the workspace's plan, for every member
    team["owner"].save()
    assert changed(before, stamps(*people)) == [True, True, False]


def test_embedding_settings_changes_stamp_the_spaces_people(team):
    people = (team["owner"], team["member"], team["outsider"])
    before = stamps(*people)
    settings = EmbeddingSettings.objects.create(space=team["space"], provider="none")
    assert changed(before, stamps(*people)) == [True, True, False]
    before = stamps(*people)
    EmbeddingSettings.objects.filter(pk=settings.pk).update(provider="local")
    assert changed(before, stamps(*people)) == [True, True, False]
    before = stamps(*people)
    settings.delete()
    assert changed(before, stamps(*people)) == [True, True, False]


def test_byok_key_changes_stamp_the_spaces_people_and_their_use_stamps_nobody(team):
    people = (team["owner"], team["member"], team["outsider"])
    before = stamps(*people)
    credential = byok_credential_create(space=team["space"], service="openai", label="k", key=fresh_key())
    assert changed(before, stamps(*people)) == [True, True, False]
    before = stamps(*people)
    ByokCredential.objects.filter(pk=credential.pk).update(last_used_at=timezone.now())
    assert changed(before, stamps(*people)) == [False, False, False]
    byok_credential_delete(space=team["space"], credential_id=credential.pk)
    assert changed(before, stamps(*people)) == [True, True, False]
    before = stamps(*people)
    personal = space_ensure_personal(user=team["member"])  # redacted from every member's workspace reads
    credential = byok_credential_create(space=personal, service="openai", label="mine", key=fresh_key())
    assert changed(before, stamps(*people)) == [True, True, False]
    before = stamps(*people)
    byok_credential_delete(space=personal, credential_id=credential.pk)
    assert changed(before, stamps(*people)) == [True, True, False]
    before = stamps(*people)
    byok_credential_create(
        space=space_ensure_personal(user=team["outsider"]), service="openai", label="o", key=fresh_key()
    )
    assert changed(before, stamps(*people)) == [False, False, True]


def test_changes_made_in_sql_are_stamped_too_and_stamps_never_repeat(user):
    space = space_ensure_personal(user=user)
    seen = {stamp(user)}
    for name in ("One", "Two", "Three"):
        with connection.cursor() as cursor:
            cursor.execute("UPDATE scopes_space SET name = %s WHERE id = %s", [name, space.pk])
        seen.add(stamp(user))
    assert len(seen) == 4


def test_api_key_use_stamps_nobody(user, inproc_for):
    client = inproc_for(user)
    client.get("/api/v1/scope")
    before = stamp(user)
    ApiKey.objects.filter(user=user).update(last_used_at=timezone.now())
    assert client.get("/api/v1/scope").status_code == 200
    assert stamp(user) == before


# --- what requests remember ----------------------------------------------------------------------
def test_a_repeated_read_asks_only_for_the_key(user, inproc_for):
    client = inproc_for(user)
    client.put(IDENTITY, {"identity": {"name": "Ada"}}, format="json")
    client.get(IDENTITY)  # warm: last-used stamp written, space and kernel remembered
    with CaptureQueriesContext(connection) as captured:
        response = client.get(IDENTITY)
    assert response.status_code == 200 and response.json()["identity"]["name"] == "Ada"
    statements = [query["sql"] for query in captured.captured_queries]
    assert len(statements) == 1 and "FROM accounts_apikey k JOIN accounts_user u" in statements[0]
    assert "api_quotacount" in statements[0] and "api_contextstamp" in statements[0]


def test_a_repeated_search_asks_for_the_key_and_ranks_nothing_else(user, inproc_for):
    client = inproc_for(user)
    body = {"decision": "Use Kafka", "product_name": "Atlas"}
    assert client.post("/api/v1/memory/decisions", body, format="json").status_code == 201
    client.get(SEARCH, {"q": "kafka"})  # warm: the space and its (absent) embedding settings remembered
    with CaptureQueriesContext(connection) as captured:
        response = client.get(SEARCH, {"q": "kafka"})
    assert response.status_code == 200 and response.json()["count"] == 1
    statements = [query["sql"] for query in captured.captured_queries]
    assert len(statements) == 2, statements  # the key (with quota and stamp), then the ranking
    assert "FROM accounts_apikey k JOIN accounts_user u" in statements[0]
    assert "ts_rank" in statements[1]


def test_a_workspaces_embedding_settings_reach_its_members_next_search(team, inproc_for, settings):
    """The settings are remembered with the space; a change to them is seen by the next search."""
    settings.EMBEDDINGS_PROVIDER = "none"
    member = inproc_for(team["member"])
    header = {"HTTP_X_SYNCHRONEX_SCOPE": str(team["space"].id)}
    body = {"decision": "Use Kafka for events", "product_name": "Atlas"}
    created = member.post("/api/v1/memory/decisions", body, format="json", **header)
    assert created.status_code == 201
    with FakeEmbeddingServer(api_key=None) as server:  # a self-hosted server that takes no key
        vector = bag_of_words_vector("Use Kafka for events", server.dimensions)
        Decision.objects.filter(pk=created.json()["id"]).update(
            embedding=vector, embedding_model="own-model", embedding_dimensions=len(vector)
        )
        for _ in range(2):
            assert member.get(SEARCH, {"q": "events"}, **header).json()["semantic"] is False
        assert server.requests == []
        override = EmbeddingSettings.objects.create(
            space=team["space"], provider="openai", base_url=server.base_url, model="own-model"
        )
        for asked in (1, 2):
            assert member.get(SEARCH, {"q": "events"}, **header).json()["semantic"] is True
            assert len(server.requests) == asked
        override.delete()
        assert member.get(SEARCH, {"q": "events"}, **header).json()["semantic"] is False
        assert len(server.requests) == 2


def test_a_removed_member_loses_the_workspace_on_the_next_request(team, inproc_for):
    member = inproc_for(team["member"])
    header = {"HTTP_X_SYNCHRONEX_SCOPE": str(team["space"].id)}
    for _ in range(3):
        assert member.get(IDENTITY, **header).status_code == 200
    Membership.objects.filter(space=team["space"], user=team["member"]).delete()
    response = member.get(IDENTITY, **header)
    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


def test_a_member_made_viewer_cannot_write_on_the_next_request(team, inproc_for):
    member = inproc_for(team["member"])
    header = {"HTTP_X_SYNCHRONEX_SCOPE": str(team["space"].id)}
    assert member.put(IDENTITY, {"identity": {"name": "A"}}, format="json", **header).status_code == 200
    assert member.get(IDENTITY, **header).status_code == 200
    Membership.objects.filter(space=team["space"], user=team["member"]).update(role=Role.VIEWER)
    response = member.put(IDENTITY, {"identity": {"name": "B"}}, format="json", **header)
    assert response.status_code == 403


def test_another_members_kernel_write_is_seen_at_once(team, inproc_for):
    owner, member = inproc_for(team["owner"]), inproc_for(team["member"])
    header = {"HTTP_X_SYNCHRONEX_SCOPE": str(team["space"].id)}
    for name in ("First", "Second", "Third"):
        assert owner.put(IDENTITY, {"identity": {"company": name}}, format="json", **header).status_code == 200
        for _ in range(2):
            assert member.get(IDENTITY, **header).json()["identity"]["company"] == name


def test_the_owners_plan_change_reaches_members_at_once(team, inproc_for):
    member = inproc_for(team["member"])
    header = {"HTTP_X_SYNCHRONEX_SCOPE": str(team["space"].id)}
    for _ in range(2):
        assert member.get("/api/v1/ai/costs", **header).status_code == 200
    team["owner"].tier = "free"
    team["owner"].save()
    response = member.get("/api/v1/ai/costs", **header)
    assert response.status_code == 403 and response.json()["error"]["code"] == "TIER_REQUIRED"


@pytest.mark.django_db(transaction=True)
def test_an_oauth_request_remembers_nothing_older_than_its_stamp(base_url, person, make_key, oauth_for, monkeypatch):
    """The stamp is read with the token and its user: a change committed between the two (here a
    plan change, forced in just before the request is counted) is not remembered as current."""
    from conftest import Api
    from synchronex.api import ratelimit

    key = Api(base_url, make_key(person, "write"))
    assert key.get("/api/v1/ai/costs").status_code == 200  # pro
    token = oauth_for("memory:read")
    count = ratelimit.consume

    def downgraded_meanwhile(user, **kwargs):
        monkeypatch.setattr(ratelimit, "consume", count)
        with connection.cursor() as cursor:
            cursor.execute("UPDATE accounts_user SET tier = 'free' WHERE id = %s", [person.pk])
        return count(user, **kwargs)

    monkeypatch.setattr(ratelimit, "consume", downgraded_meanwhile)
    assert token.get(IDENTITY).status_code == 200
    for _ in range(2):
        refused = key.get("/api/v1/ai/costs")
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "TIER_REQUIRED"


def test_a_kernel_changed_in_sql_is_seen_at_once(user, inproc_for):
    client = inproc_for(user)
    client.put(IDENTITY, {"identity": {"name": "Ada"}}, format="json")
    client.get(IDENTITY)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE identity_kernel SET identity = %s::jsonb, version = version + 1 WHERE space_id = %s",
            ['{"name": "Grace"}', space_ensure_personal(user=user).pk],
        )
    assert client.get(IDENTITY).json()["identity"]["name"] == "Grace"


# --- counting in the key lookup ------------------------------------------------------------------
def test_each_request_counts_once_and_a_dead_keys_requests_count_nothing(user, make_key, inproc_for):
    wait_for_fresh_minute_margin(5)
    client = inproc_for(user)
    remaining = [int(client.get("/api/v1/scope")["X-RateLimit-Remaining"]) for _ in range(4)]
    assert remaining == [remaining[0] - n for n in range(4)]
    revoked = inproc_for(user)
    ApiKey.objects.filter(user=user).exclude(pk__in=ApiKey.objects.filter(user=user).order_by("created_at")[:1]).update(
        revoked_at=timezone.now()
    )
    for _ in range(3):
        assert revoked.get("/api/v1/scope").status_code == 401
    assert int(client.get("/api/v1/scope")["X-RateLimit-Remaining"]) == remaining[-1] - 1


# --- across processes ----------------------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_every_server_process_sees_a_change_on_its_next_request(team, make_key):
    """gunicorn with four workers: each remembers the member's workspace and kernel; a change made
    by another process (here, this test's own SQL) is seen by every one of them at once."""
    import requests

    token = make_key(team["member"])
    headers = {"Authorization": f"Bearer {token}", "X-Synchronex-Scope": str(team["space"].id)}
    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": "", "DB_CONN_MAX_AGE": "600"}
    with servers.gunicorn(env, workers=4) as base:
        session = requests.Session()

        def names(count: int) -> set:
            answers = [session.get(base + IDENTITY, headers=headers, timeout=30) for _ in range(count)]
            assert {answer.status_code for answer in answers} == {200}
            return {answer.json()["identity"]["name"] for answer in answers}

        owner = session.put(
            base + IDENTITY,
            json={"identity": {"name": "Before"}},
            headers={**headers, "Authorization": f"Bearer {make_key(team['owner'])}"},
            timeout=30,
        )
        assert owner.status_code == 200
        assert names(40) == {"Before"}  # every worker has read and remembered it
        with connection.cursor() as cursor:
            cursor.execute(
                'UPDATE identity_kernel SET identity = \'{"name": "After"}\'::jsonb WHERE space_id = %s',
                [team["space"].pk],
            )
        assert names(40) == {"After"}
        Membership.objects.filter(space=team["space"], user=team["member"]).delete()
        gone = [session.get(base + IDENTITY, headers=headers, timeout=30).status_code for _ in range(40)]
        assert set(gone) == {404}


def test_a_remembered_identity_body_is_the_body_a_fresh_read_renders(make_user, inproc_for):
    from synchronex.api import stamps as remembered

    ada = make_user()
    client = inproc_for(ada)
    client.put(IDENTITY, {"identity": {"name": "Ada", "location": "Lisboa, Portugal ✓"}}, format="json")
    remembered.forget()
    fresh = client.get(IDENTITY)
    again = client.get(IDENTITY)  # from this process's memory
    assert fresh.content == again.content and fresh["ETag"] == again["ETag"] == '"1"'
    assert fresh["Content-Type"] == again["Content-Type"] == "application/json"
    indented = client.get(IDENTITY, HTTP_ACCEPT="application/json; indent=2")
    assert indented.status_code == 200 and indented.json() == fresh.json() and b'\n  "identity"' in indented.content
    other = client.get(IDENTITY, HTTP_ACCEPT="text/html")  # still negotiated: no renderer fits, JSON it is
    assert other.status_code == 200 and other.json() == fresh.json() and other["Content-Type"] == "application/json"


def test_a_byok_key_added_after_a_read_is_redacted_from_the_next_identity_read(user, inproc_for):
    client = inproc_for(user)
    secret = fresh_key()
    client.put(IDENTITY, {"constraints": {"always": [f"Bill {secret}"]}}, format="json")
    assert "- Bill sk-" in client.get(IDENTITY).json()["injection_block"]  # remembered from here on
    space = space_ensure_personal(user=user)
    credential = byok_credential_create(space=space, service="openai", label="main", key=secret)
    assert "- Bill [REDACTED:api_key]" in client.get(IDENTITY).json()["injection_block"]
    byok_credential_delete(space=space, credential_id=credential.pk)
    assert f"- Bill {secret}" in client.get(IDENTITY).json()["injection_block"]


def test_a_members_personal_key_added_after_a_read_is_redacted_from_a_co_members_next_identity_read(team, inproc_for):
    """The workspace's remembered body depends on every member's personal keys (a member may paste
    their own key into the workspace layer): a key change in a member's personal space renews the
    stamps of the people of each workspace they are in."""
    owner = inproc_for(team["owner"])
    header = {"HTTP_X_SYNCHRONEX_SCOPE": str(team["space"].id)}
    secret = fresh_key()
    rule = {"constraints": {"always": [f"Bill {secret}"]}}
    assert owner.put(IDENTITY, rule, format="json", **header).status_code == 200
    for _ in range(2):  # remembered from here on
        assert f"- Bill {secret}" in owner.get(IDENTITY, **header).json()["injection_block"]
    personal = space_ensure_personal(user=team["member"])
    credential = byok_credential_create(space=personal, service="openai", label="mine", key=secret)
    for _ in range(2):
        block = owner.get(IDENTITY, **header).json()["injection_block"]
        assert "- Bill [REDACTED:api_key]" in block and secret not in block
    byok_credential_delete(space=personal, credential_id=credential.pk)
    assert f"- Bill {secret}" in owner.get(IDENTITY, **header).json()["injection_block"]


def test_a_co_members_reads_follow_a_join_and_a_leave_of_someone_with_a_personal_key(make_user, inproc_for):
    """A member's personal keys are the workspace's secrets while they are a member: the identity
    read another member remembered is renewed when they join and when they leave, and agrees with
    the kernel export of the same workspace."""
    owner, joiner = make_user(tier="team"), make_user(tier="team")
    owner_api, joiner_api = inproc_for(owner), inproc_for(joiner)
    secret = fresh_key()
    key = {"service": "openai", "label": "own", "key": secret}
    assert joiner_api.post("/api/v1/byok", key, format="json").status_code == 201
    created = owner_api.post("/api/v1/workspaces", {"name": "W2", "kind": "team"}, format="json")
    workspace = created.json()["id"]
    header = {"HTTP_X_SYNCHRONEX_SCOPE": workspace}
    rule = {"constraints": {"always": [f"deploy with {secret}"]}}
    assert owner_api.put(IDENTITY, rule, format="json", **header).status_code == 200

    def reads() -> tuple[bool, bool]:
        """Whether the identity read's block and the kernel export show the key."""
        block = owner_api.get(IDENTITY, **header).json()["injection_block"]
        export = owner_api.get("/api/v1/kernel/export", **header).content.decode()
        return secret in block, secret in export

    for _ in range(2):  # not a secret of the workspace yet; remembered from here on
        assert reads() == (True, True)
    members = f"/api/v1/workspaces/{workspace}/members"
    assert owner_api.post(members, {"email": joiner.email, "role": "member"}, format="json").status_code == 201
    for _ in range(2):
        assert reads() == (False, False)
    assert joiner_api.delete(f"{members}/{joiner.pk}").status_code == 204
    for _ in range(2):
        assert reads() == (True, True)


def test_the_schema_with_a_key_counts_no_request(user, inproc_for):
    wait_for_fresh_minute_margin(5)
    client = inproc_for(user)
    before = int(client.get("/api/v1/scope")["X-RateLimit-Remaining"])
    for path in ("/api/v1/openapi.json", "/openapi.yaml", "/api/v1/docs"):
        assert client.get(path).status_code == 200
    assert int(client.get("/api/v1/scope")["X-RateLimit-Remaining"]) == before - 1


# --- a change in flight while someone joins the space ------------------------------------------
# A trigger stamps the people it sees. A member whose join commits between a change's trigger and
# its commit was not seen: reading in that window, they remembered the old value under their own
# stamp, and nothing renewed it. Joins and those changes now take turns (migration api.0006).
def _kernel_change(ctx):
    assert ctx.owner.put(IDENTITY, {"identity": {"company": "Oldco"}}, format="json", **ctx.header).status_code == 200

    def write():
        kernel_update(space=ctx.space, changes={"identity": {"company": "Newco"}}, actor="test")

    def read(client):
        identity = client.get(IDENTITY, **ctx.header)
        export = client.get("/api/v1/kernel/export", {"format": "json"}, **ctx.header)
        if identity.status_code != 200:
            return None
        return identity.json()["identity"]["company"], identity["ETag"], "Newco" in export.content.decode()

    return write, read, ("Newco", '"2"', True)


def _space_rename(ctx):
    def write():
        Space.objects.filter(pk=ctx.space.pk).update(name="Studio 2")

    def read(client):
        scope = client.get("/api/v1/scope", **ctx.header)
        return scope.json()["workspace"]["name"] if scope.status_code == 200 else None

    return write, read, "Studio 2"


def _owner_plan_change(ctx):
    def write():
        ctx.space.owner.tier = "free"
        ctx.space.owner.save(update_fields=["tier"])

    def read(client):
        return client.get("/api/v1/ai/costs", **ctx.header).status_code

    return write, read, 403


def _embedding_settings_change(ctx):
    ctx.settings.EMBEDDINGS_PROVIDER = "none"
    server = ctx.stack.enter_context(FakeEmbeddingServer(api_key=None))
    body = {"decision": "Use Kafka for events", "product_name": "Atlas"}
    created = ctx.owner.post("/api/v1/memory/decisions", body, format="json", **ctx.header)
    vector = bag_of_words_vector(body["decision"], server.dimensions)
    Decision.objects.filter(pk=created.json()["id"]).update(
        embedding=vector, embedding_model="own-model", embedding_dimensions=len(vector)
    )

    def write():
        EmbeddingSettings.objects.create(
            space=ctx.space, provider="openai", base_url=server.base_url, model="own-model"
        )

    def read(client):
        search = client.get(SEARCH, {"q": "events"}, **ctx.header)
        return search.json()["semantic"] if search.status_code == 200 else None

    return write, read, True


def _byok_key_removal(ctx):
    secret = fresh_key()
    rule = {"constraints": {"always": [f"Bill {secret}"]}}
    assert ctx.owner.put(IDENTITY, rule, format="json", **ctx.header).status_code == 200
    credential = byok_credential_create(space=ctx.space, service="openai", label="main", key=secret)

    def write():
        byok_credential_delete(space=ctx.space, credential_id=credential.pk)

    def read(client):
        identity = client.get(IDENTITY, **ctx.header)
        return secret in identity.json()["injection_block"] if identity.status_code == 200 else None

    return write, read, True


def _byok_key_addition(ctx):
    secret = fresh_key()
    rule = {"constraints": {"always": [f"Bill {secret}"]}}
    assert ctx.owner.put(IDENTITY, rule, format="json", **ctx.header).status_code == 200

    def write():
        byok_credential_create(space=ctx.space, service="openai", label="main", key=secret)

    def read(client):
        identity = client.get(IDENTITY, **ctx.header)
        return secret in identity.json()["injection_block"] if identity.status_code == 200 else None

    return write, read, False


def _co_members_personal_key(*, added: bool):
    """The owner's personal key, pasted into the workspace layer, added or removed: the joiner's
    workspace reads redact it as long as it exists (the owner is a member of the workspace)."""

    def change(ctx):
        secret = fresh_key()
        rule = {"constraints": {"always": [f"Bill {secret}"]}}
        assert ctx.owner.put(IDENTITY, rule, format="json", **ctx.header).status_code == 200
        personal = space_ensure_personal(user=ctx.space.owner)
        credential = None if added else byok_credential_create(space=personal, service="openai", label="m", key=secret)

        def write():
            if added:
                byok_credential_create(space=personal, service="openai", label="main", key=secret)
            else:
                byok_credential_delete(space=personal, credential_id=credential.pk)

        def read(client):
            identity = client.get(IDENTITY, **ctx.header)
            return secret in identity.json()["injection_block"] if identity.status_code == 200 else None

        return write, read, not added

    return change


CHANGES = pytest.mark.parametrize(
    "change",
    [
        _kernel_change,
        _space_rename,
        _owner_plan_change,
        _embedding_settings_change,
        _byok_key_removal,
        _byok_key_addition,
        _co_members_personal_key(added=False),
        _co_members_personal_key(added=True),
    ],
    ids=[
        "kernel",
        "space",
        "owner's plan",
        "embedding settings",
        "BYOK key removed",
        "BYOK key added",
        "a member's personal key removed",
        "a member's personal key added",
    ],
)


@pytest.fixture
def joining(make_user, inproc_for, settings):
    """A team workspace, its owner's API client, someone about to join it and the scope header."""
    owner, joiner = make_user(tier="team"), make_user(tier="team")
    space = workspace_create(owner=owner, name="Studio", kind="team")
    header = {"HTTP_X_SYNCHRONEX_SCOPE": str(space.pk)}
    with ExitStack() as stack:
        yield SimpleNamespace(
            space=space, owner=inproc_for(owner), joiner=joiner, header=header, settings=settings, stack=stack
        )


def _lock_waiters() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0]


def _until_done_or_waiting(thread: threading.Thread) -> None:
    """Until ``thread`` has finished or another session waits on a lock (10 s at most)."""
    deadline = time.monotonic() + 10
    while thread.is_alive() and not _lock_waiters():
        assert time.monotonic() < deadline, "neither finished nor waiting"
        time.sleep(0.02)


@pytest.mark.django_db(transaction=True)
@CHANGES
def test_a_member_who_joins_while_a_change_is_in_flight_reads_it_once_it_commits(change, joining, inproc_for):
    """The change holds its transaction open after its trigger ran; the owner adds a member through
    the API meanwhile, and the member reads (and would remember) before the change commits."""
    write, read, after = change(joining)
    member = inproc_for(joining.joiner)
    written, release, outcome = threading.Event(), threading.Event(), {}

    def in_flight():
        with transaction.atomic():
            write()
            written.set()
            release.wait(10)

    writer = on_thread(in_flight, outcome, "write")
    assert written.wait(10)
    body = {"email": joining.joiner.email, "role": "member"}
    members = f"/api/v1/workspaces/{joining.space.pk}/members"
    join = on_thread(lambda: joining.owner.post(members, body, format="json"), outcome, "join")
    _until_done_or_waiting(join)
    for _ in range(2):
        read(member)  # a member already: the value before the change, remembered
    release.set()
    writer.join(10)
    join.join(10)
    assert outcome["write"] is None and outcome["join"].status_code == 201
    for _ in range(2):
        assert read(member) == after


@pytest.mark.django_db(transaction=True)
@CHANGES
def test_a_change_made_while_a_member_joins_waits_for_the_join_and_reaches_them(change, joining, inproc_for):
    """The other order: the join holds its transaction open, the change comes meanwhile. It waits
    for the join (no lock cycle), then stamps the new member with everyone else."""
    write, read, after = change(joining)
    member = inproc_for(joining.joiner)
    owner_membership = Membership.objects.get(space=joining.space, role=Role.OWNER)
    joined, release, outcome = threading.Event(), threading.Event(), {}

    def in_flight():
        with transaction.atomic():
            member_put(actor_membership=owner_membership, user=joining.joiner, role=Role.MEMBER)
            joined.set()
            release.wait(10)

    join = on_thread(in_flight, outcome, "join")
    assert joined.wait(10)
    writer = on_thread(transaction.atomic(write), outcome, "write")
    _until_done_or_waiting(writer)
    assert writer.is_alive()  # waiting for the join
    release.set()
    join.join(10)
    writer.join(10)
    assert outcome["join"] is None and outcome["write"] is None
    for _ in range(2):
        assert read(member) == after


@pytest.mark.django_db(transaction=True)
def test_creating_a_workspace_and_a_change_to_its_owner_at_once_do_not_deadlock(make_user):
    """``workspace_create``'s two rows, with a change to the owner's row between them: the space
    stamps the owner, the change then waits for that stamp, and the owner's membership takes no
    lock on the owner's row (a join of anyone else does), which would close a cycle."""
    owner = make_user(tier="team")
    created, release, outcome = threading.Event(), threading.Event(), {}

    def create():
        with transaction.atomic():
            space = Space.objects.create(owner=owner, kind="team", name="Studio")
            created.set()
            release.wait(10)
            Membership.objects.create(space=space, user=owner, role=Role.OWNER)

    def plan_change():
        owner.tier = "enterprise"
        owner.save(update_fields=["tier"])

    creator = on_thread(create, outcome, "create")
    assert created.wait(10)
    changer = on_thread(plan_change, outcome, "change")
    _until_done_or_waiting(changer)
    release.set()
    creator.join(10)
    changer.join(10)
    assert outcome == {"create": None, "change": None}


@pytest.mark.django_db(transaction=True)
def test_a_joiners_own_key_added_while_they_join_reaches_the_co_members_next_read(joining, inproc_for):
    """The joiner's personal key, added while their join is in flight: the key's write waits for the
    join and then finds the workspace among theirs (migration ``byok.0005``), so a co-member who
    read between the join's commit and the key's does not keep the key unredacted."""
    secret = fresh_key()
    rule = {"constraints": {"always": [f"Bill {secret}"]}}
    assert joining.owner.put(IDENTITY, rule, format="json", **joining.header).status_code == 200
    personal = space_ensure_personal(user=joining.joiner)
    owner_membership = Membership.objects.get(space=joining.space, role=Role.OWNER)
    joined, release_join, written, release_write = (threading.Event() for _ in range(4))
    outcome = {}

    def join():
        with transaction.atomic():
            member_put(actor_membership=owner_membership, user=joining.joiner, role=Role.MEMBER)
            joined.set()
            release_join.wait(10)

    def add_key():
        with transaction.atomic():
            byok_credential_create(space=personal, service="openai", label="own", key=secret)
            written.set()
            release_write.wait(10)

    def shown() -> bool:
        return secret in joining.owner.get(IDENTITY, **joining.header).json()["injection_block"]

    joiner = on_thread(join, outcome, "join")
    assert joined.wait(10)
    writer = on_thread(add_key, outcome, "write")
    _until_done_or_waiting(writer)
    release_join.set()
    joiner.join(10)
    assert written.wait(10)
    for _ in range(2):
        assert shown()  # a member now, the key not committed yet: remembered
    release_write.set()
    writer.join(10)
    assert outcome == {"join": None, "write": None}
    for _ in range(2):
        assert not shown()


# --- how much a process remembers ----------------------------------------------------------------
def test_what_a_process_remembers_is_bounded_in_bytes_and_the_least_recently_used_goes_first(
    make_user, inproc_for, monkeypatch
):
    # One account, a large personal kernel and many workspaces: each workspace's identity read is
    # a body holding the whole personal layer. A count of entries alone let such an account fill a
    # process with gigabytes; the bytes are bounded too.
    from synchronex.api import stamps as remembered

    owner = make_user(tier="team")
    client = inproc_for(owner)
    never = [f"{n:03d} " + "never do this, " * 18 for n in range(50)]
    assert client.put(IDENTITY, {"constraints": {"never": never}}, format="json").status_code == 200
    spaces = [workspace_create(owner=owner, name=f"W{n}", kind="team") for n in range(12)]
    remembered.forget()

    def read(space):
        response = client.get(IDENTITY, HTTP_X_SYNCHRONEX_SCOPE=str(space.pk))
        assert response.status_code == 200
        return response.content

    read(spaces[0])
    one_read = remembered.remembered_bytes()  # the active space, the kernel and the body
    assert one_read > 15_000  # the body alone holds the 50 constraints
    monkeypatch.setattr(remembered, "MAX_BYTES", one_read * 4)
    first = read(spaces[0])
    for space in spaces[1:]:
        read(space)
        assert read(spaces[0]) == first  # used again and again: kept, the others go before it
        assert remembered.remembered_bytes() <= remembered.MAX_BYTES
    kept = {key[2] for key in remembered._entries if key[1] == "identity body"}
    assert spaces[0].pk in kept and len(kept) < len(spaces) // 2
