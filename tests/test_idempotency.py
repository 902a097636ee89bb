"""Idempotency-Key on POST: replay, conflict, scope of a key, and concurrent retries."""

from concurrent.futures import ThreadPoolExecutor

import pytest

pytestmark = pytest.mark.urls("tests.urls")
ECHO = "/api/v1/_test/echo"


def test_same_key_replays_the_first_response_without_redoing_the_work(write_api):
    headers = {"Idempotency-Key": "order-1"}
    first = write_api.post(ECHO, json={"text": "hi"}, headers=headers)
    again = write_api.post(ECHO, json={"text": "hi"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    # The work ran once: a fresh request sees one earlier execution.
    assert write_api.post(ECHO, json={"text": "hi"}).json()["executions_before"] == 1


def test_same_key_with_a_different_body_is_a_conflict(write_api):
    headers = {"Idempotency-Key": "order-2"}
    assert write_api.post(ECHO, json={"text": "a"}, headers=headers).status_code == 201
    response = write_api.post(ECHO, json={"text": "b"}, headers=headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "CONFLICT"


def test_validation_errors_are_replayed_too(write_api):
    headers = {"Idempotency-Key": "bad-1"}
    first = write_api.post(ECHO, json={"nope": 1}, headers=headers)
    again = write_api.post(ECHO, json={"nope": 1}, headers=headers)
    assert first.status_code == again.status_code == 400
    assert again.json() == first.json()


def test_keys_belong_to_one_account(client_for, make_user):
    alice, bob = client_for(make_user()), client_for(make_user())
    headers = {"Idempotency-Key": "shared"}
    assert alice.post(ECHO, json={"text": "a"}, headers=headers).status_code == 201
    response = bob.post(ECHO, json={"text": "b"}, headers=headers)
    assert response.status_code == 201
    assert response.json()["echo"] == {"text": "b"}


def test_server_errors_are_not_kept_so_a_retry_runs_for_real(write_api):
    headers = {"Idempotency-Key": "boom-1"}
    assert write_api.post("/api/v1/_test/boom", json={}, headers=headers).status_code == 503
    again = write_api.post("/api/v1/_test/boom", json={}, headers=headers)
    assert again.status_code == 503
    assert "Idempotent-Replayed" not in again.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "spaces are bad", "tab\tkey", "k1,k2"])
def test_malformed_keys_are_refused(write_api, key):
    response = write_api.post(ECHO, json={"text": "a"}, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["details"]["fields"]


@pytest.mark.django_db(transaction=True)
def test_a_key_sent_twice_is_refused_not_run_under_the_joined_key(user, make_key):
    """gunicorn joins a header sent twice with a comma: ``k`` twice arrived as the new key ``k,k``,
    and the retry stored a second decision."""
    from django.db import connection

    from apps.decisions.models import Decision
    from tests.support import rawhttp, servers

    env = {"DATABASE_URL": servers.database_url(connection.settings_dict), "REDIS_URL": ""}
    body = b'{"decision": "sent with one key twice", "product_name": "Dup"}'
    head = "\r\n".join(
        [
            "POST /api/v1/memory/decisions HTTP/1.1",
            f"Authorization: Bearer {make_key(user)}",
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            "Idempotency-Key: key-r1",
        ]
    )
    with servers.gunicorn(env, workers=1) as base:
        status, first = rawhttp.half_closed(base, head, body)
        assert status == 201, first
        status, twice = rawhttp.half_closed(base, head + "\r\nIdempotency-Key: key-r1", body)
        assert status == 400, twice  # it was 201: a second decision
        assert "once" in twice["error"]["details"]["fields"]["Idempotency-Key"][0]
        status, again = rawhttp.half_closed(base, head, body)
        assert status == 201 and again["id"] == first["id"]
    assert Decision.objects.count() == 1


def test_concurrent_retries_have_one_effect(write_api):
    headers = {"Idempotency-Key": "race-1"}
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: write_api.post(ECHO, json={"text": "x"}, headers=headers), range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    assert write_api.post(ECHO, json={"text": "x"}).json()["executions_before"] == 1


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"params": {"dry_run": "true"}}, {}),  # a query string changes what a POST does
        ({}, {"params": {"x": "1"}}),
        ({}, {"headers": {"X-Synchronex-Scope": "personal"}}),  # so does the scope it writes to
    ],
)
def test_same_key_with_a_different_query_or_scope_is_a_conflict(write_api, first, second):
    def send(extra):
        headers = {"Idempotency-Key": "order-q", **extra.get("headers", {})}
        return write_api.post(ECHO, json={"text": "a"}, headers=headers, params=extra.get("params"))

    assert send(first).status_code == 201
    response = send(second)
    assert response.status_code == 409, response.text
    assert "query string or scope" in response.json()["error"]["message"]
    assert send(first).headers["Idempotent-Replayed"] == "true"


def test_a_scope_header_naming_no_space_is_refused_before_the_replay(write_api):
    headers = {"Idempotency-Key": "order-e"}
    assert write_api.post(ECHO, json={"text": "a"}, headers=headers).status_code == 201
    # An empty header is refused, not taken as absent: the space is resolved before the lookup.
    response = write_api.post(ECHO, json={"text": "a"}, headers={**headers, "X-Synchronex-Scope": ""})
    assert response.status_code == 400, response.text
    assert "X-Synchronex-Scope" in response.json()["error"]["details"]["fields"]


def _unfinish(key: str, seconds_ago: float) -> None:
    """Make the stored claim look like a request still running (or killed) since ``seconds_ago``."""
    from datetime import timedelta

    from django.utils import timezone

    from synchronex.api.models import IdempotencyRecord

    IdempotencyRecord.objects.filter(key=key).update(
        status_code=None, response_body=None, created_at=timezone.now() - timedelta(seconds=seconds_ago)
    )


def test_a_claim_still_running_is_a_conflict_and_an_abandoned_one_is_taken_over(write_api, settings):
    settings.IDEMPOTENCY_LEASE_SECONDS = 120
    headers = {"Idempotency-Key": "killed-1"}
    assert write_api.post(ECHO, json={"text": "a"}, headers=headers).status_code == 201
    _unfinish("killed-1", seconds_ago=30)
    running = write_api.post(ECHO, json={"text": "a"}, headers=headers)
    assert running.status_code == 409 and "still being processed" in running.json()["error"]["message"]
    _unfinish("killed-1", seconds_ago=121)  # its process was killed mid-request
    retried = write_api.post(ECHO, json={"text": "a"}, headers=headers)
    assert retried.status_code == 201 and "Idempotent-Replayed" not in retried.headers
    assert retried.json()["executions_before"] == 1  # it ran for real
    replayed = write_api.post(ECHO, json={"text": "a"}, headers=headers)
    assert replayed.headers["Idempotent-Replayed"] == "true" and replayed.json() == retried.json()


def test_an_abandoned_claim_with_a_different_body_is_still_a_conflict(write_api, settings):
    headers = {"Idempotency-Key": "killed-2"}
    assert write_api.post(ECHO, json={"text": "a"}, headers=headers).status_code == 201
    _unfinish("killed-2", seconds_ago=10_000)
    assert write_api.post(ECHO, json={"text": "b"}, headers=headers).status_code == 409


def test_a_path_longer_than_any_route_with_a_key_is_answered_by_the_route(write_api):
    path = "/api/v1/memory/product/" + "a" * 1100 + "/state"
    response = write_api.post(path, json={}, headers={"Idempotency-Key": "long-1"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_records_older_than_a_day_are_pruned_by_the_beat_task(write_api, settings):
    from datetime import timedelta

    from django.utils import timezone

    from synchronex.api.models import IdempotencyRecord
    from synchronex.api.tasks import idempotency_prune

    for key in ("old-1", "new-1"):
        assert write_api.post(ECHO, json={"text": key}, headers={"Idempotency-Key": key}).status_code == 201
    IdempotencyRecord.objects.filter(key="old-1").update(created_at=timezone.now() - timedelta(hours=24, seconds=1))
    assert idempotency_prune() == 1
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new-1"]
    schedule = settings.CELERY_BEAT_SCHEDULE["idempotency-prune"]
    assert schedule["task"] == idempotency_prune.name and schedule["schedule"] <= 3600


# -- what a replay may serve: the caller's rights and space, and the headers of the first answer ------
EXPORT = "/api/v1/kernel/export"


def test_a_credential_with_other_rights_gets_a_conflict_not_the_stored_answer(client_for, person, oauth_for):
    key = client_for(person, "write")
    assert key.post(ECHO, json={"text": "a"}, headers={"Idempotency-Key": "rights-1"}).status_code == 201
    narrow = oauth_for("memory:write").post(ECHO, json={"text": "a"}, headers={"Idempotency-Key": "rights-1"})
    assert narrow.status_code == 409, narrow.text
    # Rights, not the token: a client that refreshed its token between retries still gets its replay.
    mine = oauth_for("memory:write").post(ECHO, json={"text": "b"}, headers={"Idempotency-Key": "rights-2"})
    again = oauth_for("memory:write").post(ECHO, json={"text": "b"}, headers={"Idempotency-Key": "rights-2"})
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == mine.json()


def test_a_read_by_post_keeps_nothing_so_no_credential_is_served_another_ones_answer(client_for, person, oauth_for):
    """The kernel export's POST is a read: a narrower token with the key the write key used is
    answered afresh, with what it may read (no decisions without decisions:read)."""
    key = client_for(person, "write")
    secret = {"product_name": "Acme", "decision": "Secret pricing: 99 EUR", "reasoning": "margin"}
    assert key.post("/api/v1/memory/decisions", json=secret).status_code == 201
    body = {"query": "pricing", "product": "Acme", "format": "json"}
    first = key.post(EXPORT, json=body, headers={"Idempotency-Key": "exp-1"})
    assert first.status_code == 200 and "Secret pricing" in first.text
    narrow = oauth_for("memory:read").post(EXPORT, json=body, headers={"Idempotency-Key": "exp-1"})
    assert narrow.status_code == 200 and "Idempotent-Replayed" not in narrow.headers
    assert "Secret pricing" not in narrow.text


def test_a_replay_follows_the_stored_scope_not_only_the_header(client_for, make_user):
    from apps.scopes.services import workspace_create

    owner = make_user(tier="team")
    api = client_for(owner)
    workspace = workspace_create(owner=owner, name="Studio", kind="team")
    headers = {"Idempotency-Key": "stored-1"}
    assert api.post(ECHO, json={"text": "a"}, headers=headers).status_code == 201  # personal
    assert api.patch("/api/v1/scope", json={"workspace_id": str(workspace.id)}).status_code == 200
    moved = api.post(ECHO, json={"text": "a"}, headers=headers)  # now acts on the workspace
    assert moved.status_code == 409, moved.text
    assert api.patch("/api/v1/scope", json={"workspace_id": None}).status_code == 200
    assert api.post(ECHO, json={"text": "a"}, headers=headers).headers.get("Idempotent-Replayed") == "true"


def test_a_member_removed_from_the_workspace_gets_no_replay(client_for, make_user):
    owner, member = make_user(tier="team"), make_user()
    boss, them = client_for(owner), client_for(member)
    # A POST that acts on no space keeps working with a key (and replays).
    created = boss.post("/api/v1/workspaces", json={"name": "Acme", "kind": "team"}, headers={"Idempotency-Key": "w"})
    assert created.status_code == 201, created.text
    replayed = boss.post("/api/v1/workspaces", json={"name": "Acme", "kind": "team"}, headers={"Idempotency-Key": "w"})
    assert replayed.headers.get("Idempotent-Replayed") == "true" and replayed.json()["id"] == created.json()["id"]
    workspace = created.json()["id"]
    added = boss.post(f"/api/v1/workspaces/{workspace}/members", json={"email": member.email, "role": "member"})
    assert added.status_code == 201, added.text
    headers = {"X-Synchronex-Scope": workspace, "Idempotency-Key": "d-1"}
    body = {"product_name": "p", "decision": "Use Postgres"}
    assert them.post("/api/v1/memory/decisions", json=body, headers=headers).status_code == 201
    assert boss.delete(f"/api/v1/workspaces/{workspace}/members/{member.pk}").status_code == 204
    after = them.post("/api/v1/memory/decisions", json=body, headers=headers)
    assert after.status_code == 404, after.text  # as without the key
    assert "Use Postgres" not in after.text


def test_a_replay_does_not_repeat_the_first_answers_scope_notice(client_for, make_user):
    owner, member = make_user(tier="team"), make_user()
    boss, them = client_for(owner), client_for(member)
    workspace = boss.post("/api/v1/workspaces", json={"name": "Acme", "kind": "team"}).json()["id"]
    boss.post(f"/api/v1/workspaces/{workspace}/members", json={"email": member.email, "role": "member"})
    assert them.patch("/api/v1/scope", json={"workspace_id": workspace}).status_code == 200
    assert boss.delete(f"/api/v1/workspaces/{workspace}/members/{member.pk}").status_code == 204
    body, headers = {"product_name": "p", "decision": "Use Postgres"}, {"Idempotency-Key": "n-1"}
    first = them.post("/api/v1/memory/decisions", json=body, headers=headers)
    assert first.status_code == 201 and "X-Synchronex-Scope-Notice" in first.headers  # fell back, once
    again = them.post("/api/v1/memory/decisions", json=body, headers=headers)
    assert again.headers["Idempotent-Replayed"] == "true" and again.json() == first.json()
    assert "X-Synchronex-Scope-Notice" not in again.headers


def test_a_replay_carries_the_first_answers_own_headers_but_not_this_requests(client_for, person):
    api = client_for(person)
    body = {"text": "a"}
    first = api.post(ECHO, json=body, headers={"Idempotency-Key": "hdr-1", "X-Request-ID": "first-request"})
    again = api.post(ECHO, json=body, headers={"Idempotency-Key": "hdr-1", "X-Request-ID": "second-request"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    for name in ("X-Synchronex-Executions", "Content-Type"):
        assert again.headers.get(name) == first.headers[name], name
    assert again.headers["X-Request-ID"] == "second-request"
    assert int(again.headers["X-RateLimit-Remaining"]) < int(first.headers["X-RateLimit-Remaining"])


def test_a_refusal_before_the_work_is_not_kept_so_a_promoted_viewer_can_retry(client_for, make_user):
    owner, viewer = make_user(tier="team"), make_user()
    boss, them = client_for(owner), client_for(viewer)
    workspace = boss.post("/api/v1/workspaces", json={"name": "Acme", "kind": "team"}).json()["id"]
    members = f"/api/v1/workspaces/{workspace}/members"
    assert boss.post(members, json={"email": viewer.email, "role": "viewer"}).status_code == 201
    headers = {"X-Synchronex-Scope": workspace, "Idempotency-Key": "promo-1"}
    body = {"product_name": "p", "decision": "Use Postgres"}
    refused = them.post("/api/v1/memory/decisions", json=body, headers=headers)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
    assert boss.post(members, json={"email": viewer.email, "role": "member"}).status_code == 200
    # The 403 came before the work ran: the key is still free and the retry runs for real.
    retried = them.post("/api/v1/memory/decisions", json=body, headers=headers)
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    again = them.post("/api/v1/memory/decisions", json=body, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == retried.json()


def test_a_workspace_the_caller_is_not_in_is_not_kept_so_an_added_member_can_retry(client_for, make_user):
    """Member management names its workspace in the path: the NOT_FOUND a non-member gets there
    refuses their rights as a 403 would (SPEC §1: never 403), so the key does not keep it."""
    owner, late = make_user(tier="team"), make_user()
    boss, them = client_for(owner), client_for(late)
    workspace = boss.post("/api/v1/workspaces", json={"name": "Acme", "kind": "team"}).json()["id"]
    members = f"/api/v1/workspaces/{workspace}/members"
    invite, headers = {"email": make_user().email, "role": "viewer"}, {"Idempotency-Key": "late-1"}
    refused = them.post(members, json=invite, headers=headers)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "NOT_FOUND"
    assert boss.post(members, json={"email": late.email, "role": "admin"}).status_code == 201

    retried = them.post(members, json=invite, headers=headers)
    assert retried.status_code == 201, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    again = them.post(members, json=invite, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == retried.json()


@pytest.mark.parametrize(
    "first",
    [
        {"Content-Type": "text/plain"},  # 415, then the JSON retry got that 415 replayed for 24 h
        {"Content-Type": "application/json; charset=latin-1"},
        {"Content-Type": "application/json", "Content-Encoding": "identity"},
    ],
)
def test_same_key_with_another_content_type_or_encoding_is_a_conflict(write_api, first):
    body, key = b'{"text": "a"}', {"Idempotency-Key": "order-ct"}
    assert write_api.post(ECHO, data=body, headers={**key, **first}).status_code in (201, 415)

    response = write_api.post(ECHO, data=body, headers={**key, "Content-Type": "application/json"})

    assert response.status_code == 409, response.text
    assert "Content-Type" in response.json()["error"]["message"]
    assert write_api.post(ECHO, data=body, headers={**key, **first}).headers["Idempotent-Replayed"] == "true"


WORKSPACES = "/api/v1/workspaces"


def test_a_post_on_no_space_ignores_the_scope_header_and_stored_scope_with_a_key_too(client_for, make_user):
    """Workspace management names its workspace in the path: with a key, as without one, neither
    the scope header nor the stored scope refuses it or makes its retry another request."""
    from apps.scopes.models import Space

    boss, member = client_for(make_user(tier="team")), make_user()
    body = {"name": "hdr test", "kind": "team"}
    garbage = boss.post(WORKSPACES, json=body, headers={"X-Synchronex-Scope": "garbage", "Idempotency-Key": "g-1"})
    assert garbage.status_code == 201, garbage.text
    gone = boss.post(WORKSPACES, json=body).json()["id"]
    Space.objects.filter(pk=gone).delete()
    deleted = boss.post(WORKSPACES, json=body, headers={"X-Synchronex-Scope": gone, "Idempotency-Key": "g-2"})
    assert deleted.status_code == 201, deleted.text

    workspace = garbage.json()["id"]
    members, add = f"{WORKSPACES}/{workspace}/members", {"email": member.email, "role": "member"}
    first = boss.post(members, json=add, headers={"Idempotency-Key": "m-1"})
    assert first.status_code == 201, first.text
    assert boss.patch("/api/v1/scope", json={"workspace_id": workspace}).status_code == 200
    for scope in ({}, {"X-Synchronex-Scope": "personal"}):
        again = boss.post(members, json=add, headers={"Idempotency-Key": "m-1", **scope})
        assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true", again.text
        assert again.json() == first.json()


def test_a_post_on_no_space_kept_while_the_scope_was_hashed_is_still_replayed(client_for, make_user, monkeypatch):
    from apps.scopes.api.views import WorkspaceListView

    owner = make_user(tier="team")
    boss = client_for(owner)
    workspace = boss.post(WORKSPACES, json={"name": "Stored", "kind": "team"}).json()["id"]
    assert boss.patch("/api/v1/scope", json={"workspace_id": workspace}).status_code == 200
    body, headers = {"name": "Acme", "kind": "team"}, {"Idempotency-Key": "old-1"}
    # As the release before kept it: every POST hashed the scope header and the active space.
    monkeypatch.setattr(WorkspaceListView, "acts_on_space", True)
    first = boss.post(WORKSPACES, json=body, headers=headers)
    assert first.status_code == 201, first.text
    monkeypatch.undo()

    again = boss.post(WORKSPACES, json=body, headers=headers)

    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    other = boss.post(WORKSPACES, json={**body, "name": "Other"}, headers=headers)
    assert other.status_code == 409, other.text
