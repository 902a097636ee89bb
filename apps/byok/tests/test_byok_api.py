"""GET/POST /api/v1/byok and DELETE /api/v1/byok/{id} over real HTTP."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.test import override_settings

from apps.byok.models import ByokCredential
from apps.byok.services import byok_credential_create, byok_secret_for
from apps.byok.shapes import SERVICES
from apps.byok.tests.helpers import URL, fresh_key, raw_secrets
from apps.scopes.services import space_ensure_personal
from synchronex.api.models import IdempotencyRecord

pytestmark = pytest.mark.django_db(transaction=True)

ITEM_KEYS = {"id", "service", "label", "key_hint", "base_url", "created_at", "last_used_at"}


def create(client, service="openai", label="main", key=None, **extra):
    body = {"service": service, "label": label, "key": key or fresh_key(service), **extra}
    if service == "openai_compatible":
        body.setdefault("base_url", "https://llm.example.com/v1")
    return client.post(URL, json=body)


def error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


def field_errors(response) -> dict:
    return error(response, 400, "VALIDATION_ERROR")["details"]["fields"]


def test_create_returns_the_credential_without_the_key(write_api):
    key = fresh_key("anthropic")
    response = create(write_api, "anthropic", "Work account", key)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == ITEM_KEYS | {"scope"} and body["scope"] == "personal"
    assert body["service"] == "anthropic" and body["label"] == "Work account"
    assert body["key_hint"] == "…" + key[-4:]
    assert body["base_url"] is None and body["last_used_at"] is None
    assert body["created_at"].endswith("Z")
    assert key not in response.text
    # The credential's own URL: the one DELETE takes.
    assert response.headers["Location"] == f"{URL}/{body['id']}"
    assert write_api.delete(response.headers["Location"]).status_code == 204


def test_list_shows_credentials_oldest_first_never_the_keys(write_api):
    keys = [fresh_key("openai"), fresh_key("groq")]
    create(write_api, "openai", "one", keys[0])
    create(write_api, "groq", "two", keys[1])
    response = write_api.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert body["scope"] == "personal" and body["count"] == 2 and body["next_offset"] is None
    assert [item["label"] for item in body["results"]] == ["one", "two"]
    assert all(set(item) == ITEM_KEYS for item in body["results"])
    assert not any(key in response.text for key in keys)

    paged = write_api.get(URL, params={"limit": 1, "offset": 1}).json()
    assert [item["label"] for item in paged["results"]] == ["two"] and paged["count"] == 2
    assert field_errors(write_api.get(URL, params={"limit": 0})) == {"limit": ["limit must be between 1 and 100."]}


def test_the_secret_is_stored_only_as_ciphertext(write_api):
    key = fresh_key("openai")
    credential_id = create(write_api, key=key).json()["id"]
    stored = raw_secrets()[credential_id]
    assert key not in stored and stored.startswith("gAAAA")
    credential = ByokCredential.objects.get(pk=credential_id)
    assert key not in credential.fingerprint and key not in credential.key_hint
    assert credential.secret == key


def test_the_same_key_twice_is_a_conflict_even_under_another_label_or_service(write_api):
    key = fresh_key("openai")
    assert create(write_api, "openai", "first", key).status_code == 201
    body = error(create(write_api, "openai", "second", key), 409, "CONFLICT")
    assert body["details"] == {"field": "key"} and key not in str(body)
    # A self-hosted server takes any token, so the same text may arrive as another service.
    error(create(write_api, "openai_compatible", "third", key), 409, "CONFLICT")


@pytest.mark.parametrize("label", ["a\x07b", "a\x7fb", "a\x85b", "a\x9bb"])
def test_a_label_with_a_control_character_is_refused(write_api, label):
    # C0, DEL and C1 (Unicode's Cc), as product, workspace and key names.
    assert field_errors(create(write_api, label=label)) == {"label": ["A label may not contain control characters."]}


def test_a_label_is_unique_per_service_case_insensitively(write_api):
    assert create(write_api, "openai", "Main").status_code == 201
    body = error(create(write_api, "openai", " main "), 409, "CONFLICT")
    assert body["details"] == {"field": "label"}
    # Not "A openai credential": no article is guessed for a service's name.
    assert body["message"] == "A credential for openai labelled 'main' already exists in this scope."
    assert create(write_api, "anthropic", "Main").status_code == 201


def test_another_users_identical_key_is_not_a_conflict(write_api, client_for, make_user):
    key = fresh_key("openai")
    assert create(write_api, key=key).status_code == 201
    assert create(client_for(make_user(tier="pro")), key=key).status_code == 201


def test_a_space_holds_at_most_twenty_credentials(write_api, user):
    space = space_ensure_personal(user=user)
    for n in range(20):
        byok_credential_create(space=space, service="openai", label=f"key {n}", key=fresh_key())
    body = error(create(write_api, label="one too many"), 409, "CONFLICT")
    assert body["details"] == {"limit": 20}
    assert ByokCredential.objects.filter(space=space).count() == 20
    # Deleting one makes room again.
    first = ByokCredential.objects.filter(space=space).first()
    assert write_api.delete(f"{URL}/{first.id}").status_code == 204
    assert create(write_api, label="fits again").status_code == 201


def test_the_limit_holds_under_concurrent_creates(write_api, user):
    with override_settings(BYOK_MAX_PER_SPACE=5), ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda n: create(write_api, label=f"c{n}").status_code, range(12)))
    assert sorted(statuses) == [201] * 5 + [409] * 7
    assert ByokCredential.objects.filter(space__owner=user).count() == 5


GOOD_KEYS = {
    "openai": ["sk-" + "a" * 20, "sk-proj-" + "A1_-" * 10, "sk-svcacct-" + "x" * 30],
    "anthropic": ["sk-ant-api03-" + "Ab9_-" * 8],
    "google": ["AIza" + "B" * 35],
    "mistral": ["a1B2" * 8],
    "groq": ["gsk_" + "Z9" * 20],
    "openrouter": ["sk-or-v1-" + "f" * 64],
    "cohere": ["c0" * 20],
    "together": ["0a" * 32, "tgp_v1_" + "k" * 40],
    "deepseek": ["sk-" + "9f" * 16],
    "xai": ["xai-" + "Q" * 40],
    "openai_compatible": ["12345678", "any.token/with:symbols!"],
}
BAD_KEYS = {
    "openai": ["sk-short", "pk-" + "a" * 30, "sk-ant-" + "a" * 30, "sk-or-" + "a" * 30, "sk-" + "a" * 20 + " b"],
    "anthropic": ["sk-" + "a" * 30, "sk-ant-short"],
    "google": ["AIza" + "B" * 34, "AIza" + "B" * 36, "aiza" + "B" * 35],
    "mistral": ["a" * 31, "a" * 33, "a" * 31 + "-"],
    "groq": ["gsk-" + "a" * 30, "gsk_" + "a" * 19],
    "openrouter": ["sk-" + "f" * 64, "sk-or-short"],
    "cohere": ["c" * 39, "c" * 41],
    "together": ["0a" * 31, "G" * 64, "tgp_v1_short"],
    "deepseek": ["ds-" + "a" * 32, "sk-" + "a" * 19],
    "xai": ["xai_" + "a" * 30, "xai-short"],
    "openai_compatible": ["1234567", "has space in it", "tab\there!!"],
}


@pytest.mark.parametrize("service", SERVICES)
def test_key_shapes_are_checked_per_service(write_api, service):
    for n, key in enumerate(GOOD_KEYS[service]):
        response = create(write_api, service, f"good {n}", key)
        assert response.status_code == 201, (key, response.text)
    for n, key in enumerate(BAD_KEYS[service]):
        response = create(write_api, service, f"bad {n}", key)
        fields = field_errors(response)
        assert list(fields) == ["key"], fields
        assert f"does not look like a key for {service}:" in fields["key"][0]
        assert key not in response.text


def test_base_url_is_required_for_openai_compatible_and_refused_elsewhere(write_api):
    body = {"service": "openai_compatible", "label": "local", "key": fresh_key("openai_compatible")}
    assert field_errors(write_api.post(URL, json=body)) == {
        "base_url": ["openai_compatible needs the base URL of the server."]
    }
    fields = field_errors(create(write_api, "openai", base_url="https://api.openai.com"))
    assert fields == {"base_url": ["Only openai_compatible credentials take a base URL."]}
    for good in ("https://llm.example.com/v1", "http://localhost:8080", "http://127.0.0.1:11434/v1", "http://[::1]:9"):
        response = create(write_api, "openai_compatible", label=good, base_url=good)
        assert response.status_code == 201, response.text
        assert response.json()["base_url"] == good
    for bad in (
        "http://llm.example.com",
        "ftp://llm.example.com",
        "llm.example.com",
        "https://user:pass@llm.example.com",
        "https://llm.example.com/v1?key=1",
        "https://llm.example.com:99999",
        "https://" + "a" * 500 + ".com",
    ):
        assert list(field_errors(create(write_api, "openai_compatible", label="bad", base_url=bad))) == ["base_url"]


def test_bad_bodies_are_validation_errors(write_api):
    fields = field_errors(write_api.post(URL, json={"service": "openai", "label": "x", "key": fresh_key(), "extra": 1}))
    assert fields == {"extra": ["Unknown field."]}
    fields = field_errors(write_api.post(URL, json={}))
    assert set(fields) == {"service", "label", "key"}
    assert list(field_errors(create(write_api, "nope", key=fresh_key()))) == ["service"]
    assert list(field_errors(create(write_api, label="x" * 101))) == ["label"]
    assert list(field_errors(create(write_api, label="   "))) == ["label"]
    assert list(field_errors(create(write_api, label="tab\there"))) == ["label"]
    assert list(field_errors(write_api.post(URL, json={"service": "openai", "label": 5, "key": fresh_key()}))) == [
        "label"
    ]
    assert list(field_errors(write_api.post(URL, json={"service": "openai", "label": "x", "key": 123}))) == ["key"]
    assert list(field_errors(create(write_api, key="sk-" + "a" * 600))) == ["key"]
    assert field_errors(write_api.post(URL, json=["not", "an", "object"]))
    assert create(write_api, label="x" * 100).status_code == 201


@pytest.mark.parametrize("misplaced", ["plain", "in_a_list", "in_an_object"])
def test_a_key_sent_as_the_service_is_not_echoed_or_stored(write_api, misplaced):
    # SPEC §9: a secret never appears in an error. A 400 is kept for Idempotency-Key replays, so
    # an echo would also sit in the idempotency table for a day.
    key = fresh_key()
    service = {"plain": key, "in_a_list": [key], "in_an_object": {"k": key}}[misplaced]
    response = write_api.post(
        URL, json={"service": service, "label": "x", "key": key}, headers={"Idempotency-Key": f"misplaced-{misplaced}"}
    )
    fields = field_errors(response)
    assert list(fields) == ["service"]
    assert key not in response.text and key[-12:] not in response.text
    record = IdempotencyRecord.objects.get(key=f"misplaced-{misplaced}")
    assert record.status_code == 400 and key[-12:].encode() not in bytes(record.response_body)
    expected = "Must be one of: openai, " if misplaced == "plain" else "Not a valid string."
    assert fields["service"][0].startswith(expected), fields


def test_delete_removes_the_credential(write_api):
    credential_id = create(write_api).json()["id"]
    response = write_api.delete(f"{URL}/{credential_id}")
    assert response.status_code == 204 and response.content == b""
    assert write_api.get(URL).json()["count"] == 0
    error(write_api.delete(f"{URL}/{credential_id}"), 404, "NOT_FOUND")
    error(write_api.delete(f"{URL}/not-a-uuid"), 404, "NOT_FOUND")


def test_other_users_credentials_are_invisible_and_not_found(write_api, client_for, make_user):
    theirs = create(write_api).json()["id"]
    other = client_for(make_user(tier="pro"))
    assert other.get(URL).json()["count"] == 0
    error(other.delete(f"{URL}/{theirs}"), 404, "NOT_FOUND")
    assert ByokCredential.objects.filter(pk=theirs).exists()


def test_free_users_list_and_delete_but_get_tier_required_on_create(client_for, make_user):
    # Listing and deleting work on any plan, so a downgrade locks no credential away (test_downgrade.py).
    free = client_for(make_user(tier="free"))
    body = error(create(free), 403, "TIER_REQUIRED")
    assert body["details"] == {"required_tier": "pro", "current_tier": "free"}
    listed = free.get(URL)
    assert listed.status_code == 200 and listed.json()["count"] == 0
    error(free.delete(f"{URL}/00000000-0000-0000-0000-000000000000"), 404, "NOT_FOUND")
    assert ByokCredential.objects.count() == 0


def test_a_read_key_lists_but_cannot_create_or_delete(read_api, write_api):
    credential_id = create(write_api).json()["id"]
    assert read_api.get(URL).status_code == 200
    assert error(create(read_api, label="other"), 403, "FORBIDDEN")["details"] == {"required_scopes": ["byok:write"]}
    assert error(read_api.delete(f"{URL}/{credential_id}"), 403, "FORBIDDEN")["details"] == {
        "required_scopes": ["byok:write"]
    }


def test_the_service_uses_the_newest_key_and_marks_it_used(write_api, user):
    space = space_ensure_personal(user=user)
    assert byok_secret_for(space=space, service="openai") is None
    old, new = fresh_key(), fresh_key()
    create(write_api, label="old", key=old)
    new_id = create(write_api, label="new", key=new).json()["id"]
    assert byok_secret_for(space=space, service="openai") == new
    assert byok_secret_for(space=space, service="anthropic") is None
    listed = {item["id"]: item for item in write_api.get(URL).json()["results"]}
    assert listed[new_id]["last_used_at"] is not None
    assert [item["last_used_at"] for item in listed.values() if item["id"] != new_id] == [None]


def test_an_idempotent_retry_replays_without_a_second_row(write_api):
    body = {"service": "openai", "label": "retry", "key": fresh_key()}
    headers = {"Idempotency-Key": "byok-create-1"}
    first = write_api.post(URL, json=body, headers=headers)
    again = write_api.post(URL, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert ByokCredential.objects.count() == 1
