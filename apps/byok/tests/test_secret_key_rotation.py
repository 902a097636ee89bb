"""A SECRET_KEY rotation as the README says, without FERNET_KEYS (development): the Fernet keys are
derived from SECRET_KEY and from each of SECRET_KEY_FALLBACKS, so stored BYOK keys stay readable
and ``rotate_byok_keys`` moves them to the new SECRET_KEY's key."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import override_settings

from apps.byok.tests.helpers import URL, fresh_key

pytestmark = pytest.mark.django_db(transaction=True)

IDENTITY = "/api/v1/memory/identity"
OLD_KEY, NEW_KEY = "old-" + "o" * 60, "new-" + "n" * 60


def fernet_keys_read_from(**env) -> list[str]:
    """FERNET_KEYS as a process started with ``env`` (and no FERNET_KEYS) reads it."""
    from tests.test_settings import DEV_ENV, run_manage

    script = "import json; from django.conf import settings as s; print(json.dumps(s.FERNET_KEYS))"
    result = run_manage("shell", "-c", script, env_overrides={**DEV_ENV, "SECRET_KEY_FALLBACKS": "", **env})
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_a_secret_key_rotation_keeps_byok_keys_readable_and_rotate_byok_keys_moves_them(client_for, make_user):
    before = fernet_keys_read_from(SECRET_KEY=OLD_KEY)
    during = fernet_keys_read_from(SECRET_KEY=NEW_KEY, SECRET_KEY_FALLBACKS=OLD_KEY)
    after = fernet_keys_read_from(SECRET_KEY=NEW_KEY)  # the old key dropped from the fallbacks
    api = client_for(make_user(tier="pro"))
    with override_settings(FERNET_KEYS=before):
        created = api.post(URL, json={"service": "openai", "label": "mine", "key": fresh_key()})
        assert created.status_code == 201, created.text
        assert api.get(IDENTITY).status_code == 200

    with override_settings(FERNET_KEYS=during):
        assert api.get(IDENTITY).status_code == 200  # redaction decrypts the key
        out = StringIO()
        call_command("rotate_byok_keys", stdout=out)
        assert "Re-encrypted 1 secret(s)" in out.getvalue()

    with override_settings(FERNET_KEYS=after):
        call_command("rotate_byok_keys", check=True, stdout=StringIO())
        assert api.get(IDENTITY).status_code == 200
