"""A consolidation request while a job is active gets that job back (SPEC §9), whatever the options
it asked for: the 202 says which options the returned job has (``dry_run``, ``product``), so a
client that asked for a real run and got a queued dry run can tell."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.memory.models import ConsolidationJob
from apps.memory.tests.test_consolidation_api import URL, test_broker  # noqa: F401 - an autouse fixture

pytestmark = pytest.mark.django_db(transaction=True)


def accepted(client, body: dict) -> dict:
    response = client.post(URL, json=body)
    assert response.status_code == 202, response.text
    return response.json()


def test_the_202_shows_the_options_of_the_job_it_returns(write_api):
    assert write_api.post("/api/v1/memory/product/Atlas/state", json={}).status_code == 201
    first = accepted(write_api, {"dry_run": True})
    assert (first["dry_run"], first["product"]) == (True, None)
    # A real run of one product asked while the dry run is queued: the dry run comes back, and says so.
    again = accepted(write_api, {"dry_run": False, "product": "Atlas"})
    assert again["job_id"] == first["job_id"] and ConsolidationJob.objects.count() == 1
    assert (again["dry_run"], again["product"]) == (True, None)
    # Once it is over, the next request gets a job of its own options.
    ConsolidationJob.objects.update(status="succeeded", finished_at=timezone.now(), stats={})
    narrowed = accepted(write_api, {"product": "  atlas "})
    assert narrowed["job_id"] != first["job_id"]
    assert (narrowed["dry_run"], narrowed["product"]) == (False, "Atlas")
    ConsolidationJob.objects.filter(pk=narrowed["job_id"]).update(
        status="running", lease_expires_at=timezone.now() + timedelta(minutes=1)
    )
    running = accepted(write_api, {"dry_run": True})
    assert (running["job_id"], running["status"]) == (narrowed["job_id"], "running")
    assert (running["dry_run"], running["product"]) == (False, "Atlas")


def test_openapi_declares_the_options_of_the_returned_job(api):
    document = api.get("/api/v1/openapi.json").json()
    response = document["paths"][URL]["post"]["responses"]["202"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][response["$ref"].rsplit("/", 1)[-1]]
    assert {"dry_run", "product"} <= set(schema["required"])
    assert schema["properties"]["dry_run"]["type"] == "boolean"
    assert schema["properties"]["product"]["type"] == ["string", "null"]
    assert "whatever" in schema["properties"]["dry_run"]["description"]
