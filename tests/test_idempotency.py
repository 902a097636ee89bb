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


@pytest.mark.parametrize("key", ["", "x" * 256, "spaces are bad", "tab\tkey"])
def test_malformed_keys_are_refused(write_api, key):
    response = write_api.post(ECHO, json={"text": "a"}, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["error"]["details"]["fields"]


def test_concurrent_retries_have_one_effect(write_api):
    headers = {"Idempotency-Key": "race-1"}
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: write_api.post(ECHO, json={"text": "x"}, headers=headers), range(8)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    assert write_api.post(ECHO, json={"text": "x"}).json()["executions_before"] == 1
