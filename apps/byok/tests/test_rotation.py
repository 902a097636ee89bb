"""``manage.py rotate_byok_keys``: every row re-encrypted under the newest key; old keys can go."""

from __future__ import annotations

from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import CommandError, call_command
from django.test import override_settings

from apps.byok.fields import DecryptionFailed
from apps.byok.models import ByokCredential
from apps.byok.services import byok_credential_create
from apps.byok.tests.helpers import fresh_key, new_fernet_key, raw_secrets
from apps.scopes.services import space_ensure_personal
from synchronex.api import errors

pytestmark = pytest.mark.django_db


def rotate(**options) -> str:
    out = StringIO()
    call_command("rotate_byok_keys", stdout=out, **options)
    return out.getvalue()


@pytest.fixture
def seeded(make_user):
    """Five credentials in two spaces, all written under one old key."""
    old = new_fernet_key()
    secrets: dict[str, str] = {}
    with override_settings(FERNET_KEYS=[old]):
        for user in (make_user(tier="pro"), make_user(tier="pro")):
            space = space_ensure_personal(user=user)
            for service in ("openai", "anthropic") + (("xai",) if not secrets else ()):
                key = fresh_key(service)
                secrets[str(byok_credential_create(space=space, service=service, label="k", key=key).id)] = key
    return old, secrets


def test_rotation_re_encrypts_every_row_and_the_old_key_can_then_be_dropped(seeded):
    old, secrets = seeded
    new = new_fernet_key()
    before = raw_secrets()
    with override_settings(FERNET_KEYS=[new, old]):
        assert "Re-encrypted 5 secret(s)" in rotate(batch_size=2)  # several batches
    after = raw_secrets()
    assert set(after) == set(secrets)
    for credential_id, token in after.items():
        assert token != before[credential_id]
        assert Fernet(new.encode()).decrypt(token.encode()).decode() == secrets[credential_id]
        with pytest.raises(InvalidToken):
            Fernet(old.encode()).decrypt(token.encode())

    with override_settings(FERNET_KEYS=[new]):  # the old key removed
        assert {str(c.id): c.secret for c in ByokCredential.objects.all()} == secrets
    with override_settings(FERNET_KEYS=[old]), pytest.raises(DecryptionFailed):
        list(ByokCredential.objects.all())


def test_rotation_stops_without_changes_when_a_row_cannot_be_decrypted(seeded):
    _, secrets = seeded
    before = raw_secrets()
    with override_settings(FERNET_KEYS=[new_fernet_key()]), pytest.raises(CommandError) as caught:
        rotate()
    assert "cannot be decrypted" in str(caught.value)
    assert raw_secrets() == before
    assert not any(secret in str(caught.value) for secret in secrets.values())


def test_rotation_recomputes_fingerprints_so_duplicates_stay_detected(seeded):
    old, secrets = seeded
    with override_settings(FERNET_KEYS=[old], BYOK_FINGERPRINT_KEY="a-new-fingerprint-key"):
        credential = ByokCredential.objects.get(pk=next(iter(secrets)))
        before = credential.fingerprint
        rotate()
        credential.refresh_from_db()
        assert credential.fingerprint != before
        with pytest.raises(errors.Conflict):
            byok_credential_create(
                space=credential.space, service=credential.service, label="dup", key=secrets[str(credential.pk)]
            )


def test_batch_size_must_be_positive():
    with pytest.raises(CommandError):
        rotate(batch_size=0)


def test_check_reports_the_secrets_no_configured_key_decrypts_and_changes_nothing(seeded):
    old, secrets = seeded
    new = new_fernet_key()
    before = raw_secrets()
    with override_settings(FERNET_KEYS=[new, old]):
        assert "All 5 secret(s) decrypt" in rotate(check=True)
    out = StringIO()
    with override_settings(FERNET_KEYS=[new]), pytest.raises(CommandError) as caught:  # OLD dropped too early
        call_command("rotate_byok_keys", "--check", "--batch-size", "2", stdout=out)
    assert "5 of 5 secret(s) cannot be decrypted" in str(caught.value)
    listed = out.getvalue().splitlines()  # one line each, named by id, for the operator
    assert sorted(line.split()[0] for line in listed) == sorted(secrets)
    assert not any(secret in out.getvalue() + str(caught.value) for secret in secrets.values())
    assert raw_secrets() == before  # a check changes nothing

    with override_settings(FERNET_KEYS=[new, old]):
        rotate()
    with override_settings(FERNET_KEYS=[new]):
        assert "All 5 secret(s) decrypt" in rotate(check=True)
    with override_settings(FERNET_KEYS=[old]), pytest.raises(CommandError) as caught:
        rotate(check=True)
    assert "5 of 5" in str(caught.value)


def test_check_names_only_the_secrets_that_fail(seeded, make_user):
    old, secrets = seeded
    new = new_fernet_key()
    with override_settings(FERNET_KEYS=[new]):
        space = space_ensure_personal(user=make_user(tier="pro"))
        fresh = byok_credential_create(space=space, service="openai", label="new", key=fresh_key("openai"))
    out = StringIO()
    with override_settings(FERNET_KEYS=[new]), pytest.raises(CommandError) as caught:
        call_command("rotate_byok_keys", "--check", stdout=out)
    assert "5 of 6 secret(s)" in str(caught.value)
    assert len(out.getvalue().splitlines()) == 5 and str(fresh.id) not in out.getvalue()
    with override_settings(FERNET_KEYS=[old, new]):
        assert "All 6 secret(s) decrypt" in rotate(check=True)
