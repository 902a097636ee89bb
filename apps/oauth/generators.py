"""Token values for DOT (``ACCESS_TOKEN_GENERATOR`` / ``REFRESH_TOKEN_GENERATOR``).

``sxo_`` / ``sxr_`` + 32 random bytes, base64url without padding: the same strength and shape as
API keys, with a prefix that says what a leaked string is (secret scanners, the API's resolver).
DOT stores only their SHA-256 checksum (``COMPLIANT_BCP_RFC9700_TOKEN_STORAGE``).
"""

from __future__ import annotations

import base64
import re
import secrets

ACCESS_PREFIX = "sxo_"
REFRESH_PREFIX = "sxr_"
ACCESS_TOKEN_PATTERN = re.compile(r"^sxo_[A-Za-z0-9_-]{43}$")


def _random_part() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


def access_token(request=None, refresh_token: bool = False) -> str:
    """Called by oauthlib's BearerToken with its request."""
    return ACCESS_PREFIX + _random_part()


def refresh_token(request=None) -> str:
    return REFRESH_PREFIX + _random_part()
