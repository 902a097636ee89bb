"""A Fernet key rotation rolled out process by process (README, "AI costs and BYOK"): what a
process whose FERNET_KEYS cannot open a stored secret answers and logs, and the two-phase
rollout that never gets there."""

from __future__ import annotations

import logging
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from apps.byok.tests.helpers import URL, fresh_key, new_fernet_key

pytestmark = pytest.mark.django_db(transaction=True)
IDENTITY = "/api/v1/memory/identity"


def test_a_process_without_the_key_of_a_stored_secret_answers_500_and_logs_the_cause(write_api, caplog):
    old, new, key = new_fernet_key(), new_fernet_key(), fresh_key("openai")
    with override_settings(FERNET_KEYS=[new, old]):  # a process already restarted on the new key
        created = write_api.post(URL, json={"service": "openai", "label": "rolled", "key": key})
        assert created.status_code == 201, created.text
    caplog.set_level(logging.INFO)
    with override_settings(FERNET_KEYS=[old]):  # one still on the old key alone
        # Redaction decrypts the space's secrets: it refuses to answer rather than risk one unredacted.
        refused = write_api.get(IDENTITY)
        assert write_api.get(URL).status_code == 200  # the list decrypts nothing

    assert refused.status_code == 500
    error = refused.json()["error"]
    assert error["code"] == "INTERNAL_ERROR" and refused.headers["X-Request-ID"] in error["message"]
    assert "FERNET_KEYS" not in error["message"]  # the client is not told how the deployment is set up
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.name.startswith("synchronex")]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    line = errors[0].getMessage()
    assert "BYOK secret" in line and "cannot be decrypted with any key in FERNET_KEYS" in line
    assert "rotate_byok_keys --check" in line
    assert errors[0].exc_info is None and errors[0].request_id == refused.headers["X-Request-ID"]
    text = caplog.text + "".join(r.exc_text or "" for r in caplog.records)
    assert key not in text and old not in text and new not in text


def test_the_two_phase_rollout_keeps_every_process_answering(write_api):
    old, new = new_fernet_key(), new_fernet_key()
    with override_settings(FERNET_KEYS=[old]):
        assert write_api.post(URL, json={"service": "openai", "label": "before", "key": fresh_key()}).status_code == 201
    # Phase 1, process by process: OLD,NEW (the new key decrypts only). Writes are still under OLD.
    with override_settings(FERNET_KEYS=[old, new]):
        assert write_api.post(URL, json={"service": "openai", "label": "phase1", "key": fresh_key()}).status_code == 201
    with override_settings(FERNET_KEYS=[old]):  # a process not yet restarted
        assert write_api.get(IDENTITY).status_code == 200
    # Phase 2, once every process has NEW: NEW,OLD. Its writes are under NEW, which all can open.
    with override_settings(FERNET_KEYS=[new, old]):
        assert write_api.post(URL, json={"service": "openai", "label": "phase2", "key": fresh_key()}).status_code == 201
    with override_settings(FERNET_KEYS=[old, new]):  # a process not yet restarted
        assert write_api.get(IDENTITY).status_code == 200
    with override_settings(FERNET_KEYS=[new, old]):
        call_command("rotate_byok_keys", stdout=StringIO())
    with override_settings(FERNET_KEYS=[new]):  # OLD dropped, once --check found nothing left under it
        call_command("rotate_byok_keys", "--check", stdout=StringIO())
        assert write_api.get(IDENTITY).status_code == 200
