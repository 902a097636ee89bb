"""Idempotency-Key across a SECRET_KEY rotation: a retry kept under the old key, still listed in
SECRET_KEY_FALLBACKS, is the same request (its fingerprint is keyed with SECRET_KEY)."""

import pytest

pytestmark = pytest.mark.urls("tests.urls")
ECHO = "/api/v1/_test/echo"
WORKSPACES = "/api/v1/workspaces"
OLD_KEY, NEW_KEY = "old-" + "o" * 60, "new-" + "n" * 60


def test_a_retry_after_a_secret_key_rotation_is_replayed_not_a_conflict(write_api, settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    headers = {"Idempotency-Key": "rotated-1"}
    first = write_api.post(ECHO, json={"text": "a"}, headers=headers)
    assert first.status_code == 201

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]  # the rotation's deploy
    again = write_api.post(ECHO, json={"text": "a"}, headers=headers)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true", again.text
    assert again.json() == first.json()
    # Still the same key for another request, under either key.
    assert write_api.post(ECHO, json={"text": "b"}, headers=headers).status_code == 409

    # A key first used after the rotation is kept under the new key: it outlives the old one.
    assert write_api.post(ECHO, json={"text": "c"}, headers={"Idempotency-Key": "rotated-2"}).status_code == 201
    settings.SECRET_KEY_FALLBACKS = []
    replayed = write_api.post(ECHO, json={"text": "c"}, headers={"Idempotency-Key": "rotated-2"})
    assert replayed.headers.get("Idempotent-Replayed") == "true", replayed.text
    # With the old key dropped, what was kept under it is no longer recognised (as before).
    assert write_api.post(ECHO, json={"text": "a"}, headers=headers).status_code == 409


def test_a_retry_of_a_post_on_no_space_after_a_secret_key_rotation_is_replayed(client_for, make_user, settings):
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY, []
    boss = client_for(make_user(tier="team"))
    body, headers = {"name": "Rotated", "kind": "team"}, {"Idempotency-Key": "ws-rotated"}
    first = boss.post(WORKSPACES, json=body, headers=headers)
    assert first.status_code == 201, first.text

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]
    again = boss.post(WORKSPACES, json=body, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json(), again.text


def test_secret_key_fallbacks_are_read_from_the_environment():
    from tests.test_settings import DEV_ENV, run_manage

    env = {**DEV_ENV, "SECRET_KEY_FALLBACKS": f" {OLD_KEY} ,{NEW_KEY}, "}
    script = "from django.conf import settings as s; print(s.SECRET_KEY_FALLBACKS)"
    result = run_manage("shell", "-c", script, env_overrides=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == str([OLD_KEY, NEW_KEY])
