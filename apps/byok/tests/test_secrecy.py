"""A BYOK key never leaves the service: not in logs, SQL logs or admin pages."""

from __future__ import annotations

import logging

import pytest
from django.db import connection

from apps.byok.models import ByokCredential
from apps.byok.services import byok_secret_for
from apps.byok.tests.helpers import URL, fresh_key, raw_secrets
from apps.scopes.services import space_ensure_personal


def _log_text(caplog) -> str:
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        parts.append(record.exc_text or "")
    return caplog.text + "\n".join(parts)


@pytest.mark.django_db(transaction=True)
def test_no_log_line_carries_the_key_during_create_use_and_delete(write_api, user, caplog):
    caplog.set_level(logging.DEBUG)
    key = fresh_key("openai")
    bad_shape = "sk-" + "z" * 5  # refused: its text must not be logged either
    assert write_api.post(URL, json={"service": "openai", "label": "x", "key": bad_shape}).status_code == 400
    created = write_api.post(URL, json={"service": "openai", "label": "main", "key": key})
    assert created.status_code == 201
    assert write_api.post(URL, json={"service": "openai", "label": "again", "key": key}).status_code == 409
    assert byok_secret_for(space=space_ensure_personal(user=user), service="openai") == key
    assert write_api.get(URL).status_code == 200
    assert write_api.delete(f"{URL}/{created.json()['id']}").status_code == 204

    text = _log_text(caplog)
    assert "POST /api/v1/byok 201" in text  # the requests were logged, so the search is meaningful
    assert key not in text and bad_shape not in text


@pytest.mark.django_db
def test_the_sql_sent_to_the_database_never_carries_the_key(inproc_for, user, caplog):
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    client = inproc_for(user)
    key = fresh_key("groq")
    connection.force_debug_cursor = True  # log every statement with its parameters
    try:
        response = client.post(URL, {"service": "groq", "label": "g", "key": key}, format="json")
        assert response.status_code == 201
        byok_secret_for(space=space_ensure_personal(user=user), service="groq")
        client.delete(f"{URL}/{response.json()['id']}")
    finally:
        connection.force_debug_cursor = False
    text = _log_text(caplog)
    assert 'INSERT INTO "byok_byokcredential"' in text
    assert key not in text


@pytest.mark.django_db
def test_list_queries_are_pinned(inproc_for, user, django_assert_num_queries):
    client = inproc_for(user, "read")
    for n in range(3):
        inproc_for(user).post(URL, {"service": "openai", "label": f"k{n}", "key": fresh_key()}, format="json")
    client.get(URL)  # the key's first use records last_used_at (at most once a minute)
    # The key lookup (with the quota counters) and the page with its count (the active space is
    # remembered since the first request): the same for any number of rows.
    with django_assert_num_queries(2) as captured:
        response = client.get(URL)
    assert response.status_code == 200 and response.json()["count"] == 3
    assert not any('"secret"' in q["sql"] for q in captured.captured_queries)


@pytest.mark.django_db
def test_admin_shows_service_label_and_hint_but_never_the_secret(admin_client, inproc_for, user):
    key = fresh_key("anthropic")
    response = inproc_for(user).post(URL, {"service": "anthropic", "label": "Team key", "key": key}, format="json")
    credential = ByokCredential.objects.get(pk=response.json()["id"])
    ciphertext = raw_secrets()[str(credential.pk)]

    changelist = admin_client.get("/admin/byok/byokcredential/")
    assert changelist.status_code == 200
    html = changelist.content.decode()
    assert "Team key" in html and credential.key_hint in html and "anthropic" in html
    assert key not in html and ciphertext not in html

    change_url = f"/admin/byok/byokcredential/{credential.pk}/change/"
    page = admin_client.get(change_url)
    assert page.status_code == 200
    html = page.content.decode()
    assert credential.key_hint in html
    assert key not in html and ciphertext not in html and credential.fingerprint not in html
    assert 'name="secret"' not in html and 'name="key_hint"' not in html and 'name="fingerprint"' not in html
    assert 'name="label"' not in html  # labels are checked by the API (tests/test_admin.py)

    # Posting a secret, hint or label through the form changes nothing.
    admin_client.post(
        change_url, {"label": "Renamed", "secret": "sk-ant-" + "x" * 30, "key_hint": "…xxxx", "_save": "Save"}
    )
    credential.refresh_from_db()
    assert credential.label == "Team key" and credential.secret == key and credential.key_hint == "…" + key[-4:]
    assert raw_secrets()[str(credential.pk)] == ciphertext  # not even re-encrypted
    assert admin_client.get("/admin/byok/byokcredential/add/").status_code == 403
