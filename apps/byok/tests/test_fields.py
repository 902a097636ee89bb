"""EncryptedTextField: ciphertext at rest, newest key encrypts, all keys decrypt, no silent failures."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core.exceptions import FieldError, ImproperlyConfigured
from django.db import connection
from django.test import override_settings

from apps.byok.checks import fernet_keys_check
from apps.byok.fields import DecryptionFailed, decrypt, encrypt
from apps.byok.models import ByokCredential
from apps.byok.services import key_hint, secret_fingerprint
from apps.byok.tests.helpers import fresh_key, new_fernet_key, raw_secrets
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db


def _current_key() -> bytes:
    return settings.FERNET_KEYS[0].encode()


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def store(space, secret, *, label="x") -> ByokCredential:
    """A row written straight through the ORM (the field under test, no API rules)."""
    return ByokCredential.objects.create(
        space=space,
        service="openai",
        label=label,
        secret=secret,
        key_hint="…" + (secret or "")[-4:],
        fingerprint=secret_fingerprint(f"{label}:{secret}"),
    )


@pytest.mark.parametrize("value", ["", "0", "False", "None", " ", "sk-ünïcødé-🔑", "x" * 5000])
def test_every_string_including_falsy_ones_round_trips(space, value):
    row = store(space, value)
    assert ByokCredential.objects.get(pk=row.pk).secret == value
    stored = raw_secrets()[str(row.pk)]
    assert stored != value and stored.startswith("gAAAA")  # a Fernet token, even for ""
    assert decrypt(stored) == value


def test_none_is_stored_as_null_and_read_back_as_none():
    # The credential's column is NOT NULL, so the field's None path is exercised directly.
    field = ByokCredential._meta.get_field("secret")
    assert field.get_db_prep_save(None, connection) is None
    assert field.from_db_value(None, None, connection) is None


def test_the_database_holds_only_ciphertext(space):
    secret = fresh_key("openai")
    row = store(space, secret)
    stored = raw_secrets()[str(row.pk)]
    assert secret not in stored
    assert Fernet(_current_key()).decrypt(stored.encode()).decode() == secret


def test_same_plaintext_encrypts_differently_each_time():
    assert encrypt("same") != encrypt("same")


def test_a_wrong_key_raises_instead_of_returning_ciphertext(space):
    row = store(space, fresh_key())
    with override_settings(FERNET_KEYS=[new_fernet_key()]), pytest.raises(DecryptionFailed) as caught:
        ByokCredential.objects.get(pk=row.pk)
    assert "gAAAA" not in str(caught.value)


def test_newest_key_encrypts_and_every_key_decrypts(space):
    old, new = new_fernet_key(), new_fernet_key()
    with override_settings(FERNET_KEYS=[old]):
        early = store(space, "early-secret", label="early")
    with override_settings(FERNET_KEYS=[new, old]):
        late = store(space, "late-secret", label="late")
        assert ByokCredential.objects.get(pk=early.pk).secret == "early-secret"
        assert ByokCredential.objects.get(pk=late.pk).secret == "late-secret"
    stored = raw_secrets()
    assert Fernet(new.encode()).decrypt(stored[str(late.pk)].encode()) == b"late-secret"
    with pytest.raises(Exception):
        Fernet(old.encode()).decrypt(stored[str(late.pk)].encode())


def test_the_encrypted_column_cannot_be_filtered_on(space):
    store(space, "abc")
    with pytest.raises(FieldError):
        list(ByokCredential.objects.filter(secret="abc"))
    assert ByokCredential.objects.filter(secret__isnull=False).count() == 1


def test_a_malformed_fernet_key_is_a_configuration_error_that_names_no_key():
    with override_settings(FERNET_KEYS=["not-a-key"]):
        with pytest.raises(ImproperlyConfigured) as caught:
            encrypt("x")
        assert "not-a-key" not in str(caught.value)
        [error] = fernet_keys_check(None)
        assert error.id == "byok.E001"
    with override_settings(FERNET_KEYS=[]), pytest.raises(ImproperlyConfigured):
        encrypt("x")
    assert fernet_keys_check(None) == []


def test_key_hint_shows_only_the_last_four_characters():
    assert key_hint("sk-abcdefghijklmnopqrstuvwxyz1234") == "…1234"


def test_fingerprint_is_keyed():
    secret = fresh_key()
    first = secret_fingerprint(secret)
    assert first == secret_fingerprint(secret) and len(first) == 64
    with override_settings(BYOK_FINGERPRINT_KEY="another-key"):
        assert secret_fingerprint(secret) != first
