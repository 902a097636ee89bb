"""POST /api/v1/memory/consolidate and GET …/{job_id} over real HTTP (no worker here: jobs stay
queued; tests/test_worker_pipeline.py runs them on real workers)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from apps.memory.models import ConsolidationJob
from tests.support.workers import publishing_to, sqla_broker_url

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/memory/consolidate"


@pytest.fixture(autouse=True)
def test_broker(transactional_db):
    """Queued jobs go to the test database's broker tables, not the development broker."""
    with publishing_to(sqla_broker_url(connection.settings_dict)):
        yield


def queued_messages() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('kombu_message') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return 0
        cursor.execute("SELECT count(*) FROM kombu_message WHERE visible AND payload LIKE '%%consolidate%%'")
        return cursor.fetchone()[0]


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code
    return body


def test_a_request_queues_a_job_that_can_be_polled(write_api, read_api):
    messages = queued_messages()
    response = write_api.post(URL, json={})
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "queued" and body["scope"] == "personal"
    assert body["status_url"] == f"{URL}/{body['job_id']}" == response.headers["Location"]
    assert body["created_at"].endswith("Z")
    assert queued_messages() == messages + 1  # a real message on the embedded broker
    job = read_api.get(body["status_url"])
    assert job.status_code == 200
    assert job.json() == {
        "id": body["job_id"],
        "status": "queued",
        "product": None,
        "dry_run": False,
        "created_at": body["created_at"],
        "started_at": None,
        "finished_at": None,
        "stats": None,
        "error": None,
        "scope": "personal",
    }


def test_a_second_request_returns_the_active_job(write_api):
    first = write_api.post(URL, json={"dry_run": True}).json()
    second = write_api.post(URL, json={"product": None})
    assert second.status_code == 202 and second.json()["job_id"] == first["job_id"]
    assert ConsolidationJob.objects.count() == 1
    ConsolidationJob.objects.update(status="running", lease_expires_at=timezone.now() + timedelta(minutes=1))
    third = write_api.post(URL, json={}).json()
    assert third["job_id"] == first["job_id"] and third["status"] == "running"
    # Finished: the next request starts a new job.
    ConsolidationJob.objects.update(status="succeeded", finished_at=timezone.now(), stats={})
    fourth = write_api.post(URL, json={}).json()
    assert fourth["job_id"] != first["job_id"] and fourth["status"] == "queued"


def test_concurrent_requests_share_one_job(write_api):
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: write_api.post(URL, json={}), range(16)))
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["job_id"] for r in responses}) == 1
    assert ConsolidationJob.objects.count() == 1


def test_a_product_narrows_the_job(write_api):
    assert write_api.post("/api/v1/memory/product/Atlas/state", json={}).status_code == 201
    body = write_api.post(URL, json={"product": "  atlas "}).json()
    job = write_api.get(body["status_url"]).json()
    assert job["product"] == "Atlas" and job["dry_run"] is False


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"products": "x"}, "products"),
        ({"dry_run": "yes"}, "dry_run"),
        ({"dry_run": 1}, "dry_run"),
        ({"product": ""}, "product"),
        ({"product": 5}, "product"),
        ({"product": "x" * 101}, "product"),
        ([], "non_field_errors"),
    ],
)
def test_bad_bodies_are_validation_errors(write_api, payload, field):
    body = error(write_api.post(URL, json=payload), 400, "VALIDATION_ERROR")
    assert field in body["details"]["fields"]
    assert not ConsolidationJob.objects.exists()


def test_an_unknown_product_is_not_found(write_api):
    error(write_api.post(URL, json={"product": "Nope"}), 404, "NOT_FOUND")
    assert not ConsolidationJob.objects.exists()


@pytest.mark.parametrize("job_id", ["not-a-uuid", "5f0c2b9e-1111-4222-8333-944455556666"])
def test_unknown_jobs_are_not_found(read_api, job_id):
    error(read_api.get(f"{URL}/{job_id}"), 404, "NOT_FOUND")


def test_another_users_job_is_not_found(client_for, make_user):
    alice, bob = client_for(make_user(tier="pro")), client_for(make_user(tier="pro"))
    job = alice.post(URL, json={}).json()
    error(bob.get(job["status_url"]), 404, "NOT_FOUND")
    # Bob's request makes his own job; Alice's is not shared.
    assert bob.post(URL, json={}).json()["job_id"] != job["job_id"]


def test_consolidation_needs_pro_and_the_right_scopes(client_for, make_user):
    free = client_for(make_user(tier="free"))
    body = error(free.post(URL, json={}), 403, "TIER_REQUIRED")
    assert body["details"]["required_tier"] == "pro"
    reader = client_for(make_user(tier="pro"), "read")
    error(reader.post(URL, json={}), 403, "FORBIDDEN")
    assert not ConsolidationJob.objects.exists()


def test_a_workspace_viewer_is_forbidden_whatever_the_body(client_for, make_user):
    """A viewer may not write, so the body is not judged first: as every other write of the
    workspace (decisions, product state, ingest, MIF import), a bad body is FORBIDDEN too."""
    from apps.scopes.models import Membership, Role
    from apps.scopes.services import member_put, workspace_create

    owner, viewer = make_user(tier="team"), make_user(tier="team")
    space = workspace_create(owner=owner, name="Studio", kind="team")
    member_put(actor_membership=Membership.objects.get(space=space, user=owner), user=viewer, role=Role.VIEWER)
    header = {"X-Synchronex-Scope": str(space.pk)}
    for payload in ({}, {"dry_run": "yes"}, {"product": ""}, {"unknown": 1}):
        error(client_for(viewer).post(URL, json=payload, headers=header), 403, "FORBIDDEN")
    assert not ConsolidationJob.objects.exists()


def test_a_job_past_its_lease_is_queued_again_by_the_next_request(write_api):
    job = write_api.post(URL, json={}).json()
    ConsolidationJob.objects.update(status="running", lease_expires_at=timezone.now() - timedelta(seconds=1))
    messages = queued_messages()
    again = write_api.post(URL, json={}).json()
    assert again["job_id"] == job["job_id"] and again["status"] == "queued"
    assert queued_messages() == messages + 1


def test_a_running_job_shows_no_stats_until_it_succeeds(write_api):
    job = write_api.post(URL, json={}).json()
    # As between the committed steps and the end of a run: the stats so far are on the row.
    ConsolidationJob.objects.update(
        status="running", started_at=timezone.now(), applied_at=timezone.now(), stats={"signals_applied": 3}
    )
    body = write_api.get(job["status_url"]).json()
    assert body["status"] == "running" and body["stats"] is None and body["started_at"]
    stats = {
        "signals_applied": 3,
        "signals_ignored": 0,
        "decisions_merged": 0,
        "items_cleaned": 0,
        "kernel_refreshed": False,
        "embeddings_computed": 0,
        "duration_ms": 12,
    }
    ConsolidationJob.objects.update(status="succeeded", finished_at=timezone.now(), stats=stats)
    assert write_api.get(job["status_url"]).json()["stats"] == stats


def test_a_failed_job_shows_its_error(write_api):
    job = write_api.post(URL, json={}).json()
    error_body = {
        "code": "INTERNAL_ERROR",
        "message": f"Consolidation failed unexpectedly; quote job id {job['job_id']}.",
    }
    ConsolidationJob.objects.update(status="failed", finished_at=timezone.now(), error=error_body)
    body = write_api.get(job["status_url"]).json()
    assert body["status"] == "failed" and body["error"] == error_body and body["stats"] is None
