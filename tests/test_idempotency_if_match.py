"""If-Match is part of what an Idempotency-Key compares (SPEC §1: the same key with a different
request is a CONFLICT), including for records kept before it was."""

from __future__ import annotations

import pytest

from apps.products.tests.test_product_state_api import state_path
from synchronex.api import idempotency
from synchronex.api.models import IdempotencyRecord

pytestmark = pytest.mark.django_db(transaction=True)
ATLAS = state_path("Atlas")


@pytest.fixture
def atlas(write_api):
    assert write_api.post(ATLAS, json={"status": "paused"}).status_code == 201


def test_the_same_key_with_another_if_match_is_a_conflict_not_the_old_412(write_api, atlas):
    stale = write_api.post(ATLAS, json={"status": "active"}, headers={"Idempotency-Key": "op-7", "If-Match": '"9"'})
    assert stale.status_code == 412

    again = write_api.post(ATLAS, json={"status": "active"}, headers={"Idempotency-Key": "op-7", "If-Match": '"9"'})
    assert again.status_code == 412 and again.headers["Idempotent-Replayed"] == "true"

    corrected = write_api.post(ATLAS, json={"status": "active"}, headers={"Idempotency-Key": "op-7", "If-Match": '"1"'})
    assert corrected.status_code == 409, corrected.text
    assert corrected.json()["error"]["code"] == "CONFLICT" and "If-Match" in corrected.json()["error"]["message"]
    without = write_api.post(ATLAS, json={"status": "active"}, headers={"Idempotency-Key": "op-7"})
    assert without.status_code == 409
    assert write_api.get(ATLAS).json()["status"] == "paused"


def test_a_412_kept_by_the_previous_format_lets_the_corrected_retry_run(write_api, atlas, monkeypatch):
    # As the release before If-Match joined the fingerprint kept it.
    monkeypatch.setattr(idempotency, "FINGERPRINT_VERSION", idempotency.LEGACY_FINGERPRINT_VERSION)
    headers = {"Idempotency-Key": "op-8", "If-Match": '"9"'}
    assert write_api.post(ATLAS, json={"status": "active"}, headers=headers).status_code == 412
    monkeypatch.undo()

    # A 412 did nothing, so the retry runs whatever its If-Match: no stale answer, no confusing CONFLICT.
    corrected = write_api.post(ATLAS, json={"status": "active"}, headers={**headers, "If-Match": '"1"'})
    assert corrected.status_code == 200, corrected.text
    assert "Idempotent-Replayed" not in corrected.headers and corrected.json()["status"] == "active"
    replayed = write_api.post(ATLAS, json={"status": "active"}, headers={**headers, "If-Match": '"1"'})
    assert replayed.status_code == 200 and replayed.headers["Idempotent-Replayed"] == "true"
    assert IdempotencyRecord.objects.get(key="op-8").status_code == 200


def test_a_success_kept_by_the_previous_format_is_still_replayed(write_api, atlas, monkeypatch):
    monkeypatch.setattr(idempotency, "FINGERPRINT_VERSION", idempotency.LEGACY_FINGERPRINT_VERSION)
    headers = {"Idempotency-Key": "op-9", "If-Match": '"1"'}
    first = write_api.post(ATLAS, json={"status": "active"}, headers=headers)
    assert first.status_code == 200
    monkeypatch.undo()

    retry = write_api.post(ATLAS, json={"status": "active"}, headers=headers)
    assert retry.status_code == 200 and retry.headers["Idempotent-Replayed"] == "true"
    assert retry.json() == first.json() and write_api.get(ATLAS).json()["version"] == 2
    other_body = write_api.post(ATLAS, json={"status": "shipped"}, headers=headers)
    assert other_body.status_code == 409
