"""``EncryptedTextField``: a text column stored as a Fernet token under ``settings.FERNET_KEYS``.

The keys form a ``MultiFernet``, newest first: the first key encrypts, every key decrypts, so
a new key can be added last (it only decrypts) on every process, then put in front,
``rotate_byok_keys`` run, and the old keys removed afterwards (README, "AI costs and BYOK").

Guarantees (each one is where the unmaintained third-party fields fall short):

- a value that no configured key can decrypt raises ``DecryptionFailed``; ciphertext is never
  handed back as if it were the plaintext;
- ``""`` is encrypted like any other string and comes back as ``""``; only ``None`` is stored as
  SQL NULL, so falsy values survive the round trip unchanged;
- the column cannot be filtered on (every encryption is randomised, so an equality lookup
  could never match and would only leak intent); look rows up by another column.
"""

from __future__ import annotations

import logging
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from synchronex.api.errors import KnownInternalError

logger = logging.getLogger(__name__)

# Logged where a request meets it (an INTERNAL_ERROR to the client), and said by rotate_byok_keys.
UNDECRYPTABLE = (
    "A stored BYOK secret cannot be decrypted with any key in FERNET_KEYS (unset, in development: the keys "
    "derived from SECRET_KEY and SECRET_KEY_FALLBACKS): the key it was encrypted with is not configured in "
    "this process (a key rotation rolled out in one step, or an old key removed before rotate_byok_keys "
    "re-encrypted everything). `manage.py rotate_byok_keys --check` lists such secrets."
)


class DecryptionFailed(KnownInternalError):
    """No key in FERNET_KEYS decrypts a stored value (wrong or removed key, corrupted data)."""


@lru_cache(maxsize=8)
def _multifernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FERNET_KEYS is empty: set at least one Fernet key.")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key))
        except (ValueError, TypeError):
            # Name the position only: the key itself must not reach a log or a traceback.
            raise ImproperlyConfigured(
                f"FERNET_KEYS entry {position} is not a valid Fernet key (32 url-safe base64-encoded bytes)."
            ) from None
    return MultiFernet(fernets)


def fernet() -> MultiFernet:
    """The MultiFernet of the current ``settings.FERNET_KEYS`` (newest key first)."""
    return _multifernet(tuple(settings.FERNET_KEYS))


def encrypt(plaintext: str) -> str:
    """A Fernet token (text) of ``plaintext`` under the newest key."""
    return fernet().encrypt(plaintext.encode("utf-8")).decode("ascii")


def decrypt(token: str) -> str:
    """The plaintext of ``token``; ``DecryptionFailed`` when no configured key opens it."""
    try:
        return fernet().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        raise DecryptionFailed(UNDECRYPTABLE) from None


def decrypt_or_none(token: str, *, credential_id) -> str | None:
    """The plaintext of ``token``, or None when no configured key opens it, with a warning naming
    ``credential_id`` (never the token or a key): for a reader that can go on without this one
    secret rather than fail for every row it reads (the admin's redaction, a workspace's redaction
    of its members' personal keys)."""
    try:
        return decrypt(token)
    except DecryptionFailed:
        logger.warning("BYOK credential %s: %s", credential_id, UNDECRYPTABLE)
        return None


def rotate(token: str) -> str:
    """``token`` re-encrypted under the newest key (decrypting with any key)."""
    try:
        return fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        raise DecryptionFailed(UNDECRYPTABLE) from None


class EncryptedTextField(models.TextField):
    """Text encrypted at rest; the Python side always sees plaintext (or None)."""

    description = "Text encrypted with Fernet (settings.FERNET_KEYS)"

    def get_db_prep_save(self, value, connection):
        value = self.to_python(value)
        if value is None:
            return None
        return encrypt(value)

    def from_db_value(self, value, expression, connection):
        if value is None:
            return None
        return decrypt(value)

    def get_lookup(self, lookup_name):
        if lookup_name == "isnull":
            return super().get_lookup(lookup_name)
        return None  # Django then raises FieldError: unsupported lookup

    def get_transform(self, name):
        return None
