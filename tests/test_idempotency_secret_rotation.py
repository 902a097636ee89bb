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


def secret_keys_read_from(**env) -> tuple[str, list[str]]:
    """SECRET_KEY and SECRET_KEY_FALLBACKS as a process started with ``env`` reads them."""
    import json

    from tests.test_settings import DEV_ENV, run_manage

    script = (
        "import json; from django.conf import settings as s; print(json.dumps([s.SECRET_KEY, s.SECRET_KEY_FALLBACKS]))"
    )
    result = run_manage("shell", "-c", script, env_overrides={**DEV_ENV, "SECRET_KEY_FALLBACKS": "", **env})
    assert result.returncode == 0, result.stderr
    secret_key, fallbacks = json.loads(result.stdout.strip().splitlines()[-1])
    return secret_key, fallbacks


def test_secret_key_is_read_as_its_fallbacks_are_so_the_old_value_copied_with_its_newline_matches(write_api, settings):
    # A secrets file delivers the key with a trailing newline; the rotation copies it verbatim.
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = secret_keys_read_from(SECRET_KEY=OLD_KEY + "\n")
    headers = {"Idempotency-Key": "rotated-newline"}
    first = write_api.post(ECHO, json={"text": "a"}, headers=headers)
    assert first.status_code == 201

    rotated = secret_keys_read_from(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=OLD_KEY + "\n")
    assert rotated == (NEW_KEY, [OLD_KEY])
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = rotated
    again = write_api.post(ECHO, json={"text": "a"}, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true", again.text


def test_what_was_made_with_a_secret_key_read_verbatim_stays_valid_once_it_is_stripped(write_api, settings):
    # Before SECRET_KEY was stripped, the newline was part of it: that value is kept as a fallback.
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = OLD_KEY + "\n", []
    headers = {"Idempotency-Key": "read-verbatim"}
    first = write_api.post(ECHO, json={"text": "a"}, headers=headers)
    assert first.status_code == 201

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = secret_keys_read_from(SECRET_KEY=OLD_KEY + "\n")
    assert settings.SECRET_KEY == OLD_KEY
    again = write_api.post(ECHO, json={"text": "a"}, headers=headers)
    assert again.headers.get("Idempotent-Replayed") == "true", again.text
