"""Shared helpers of the BYOK tests: plausible random keys per service."""

from __future__ import annotations

import secrets
import string

from cryptography.fernet import Fernet

URL = "/api/v1/byok"
ALNUM = string.ascii_letters + string.digits


def _random(alphabet: str, n: int) -> str:
    return "".join(secrets.choice(alphabet) for _ in range(n))


def fresh_key(service: str = "openai") -> str:
    """A new, well-shaped key for ``service`` (random, so never a duplicate)."""
    makers = {
        "openai": lambda: "sk-proj-" + _random(ALNUM, 40),
        "anthropic": lambda: "sk-ant-api03-" + _random(ALNUM + "-_", 40),
        "google": lambda: "AIza" + _random(ALNUM + "-_", 35),
        "mistral": lambda: _random(ALNUM, 32),
        "groq": lambda: "gsk_" + _random(ALNUM, 48),
        "openrouter": lambda: "sk-or-v1-" + secrets.token_hex(32),
        "cohere": lambda: _random(ALNUM, 40),
        "together": lambda: secrets.token_hex(32),
        "deepseek": lambda: "sk-" + secrets.token_hex(16),
        "xai": lambda: "xai-" + _random(ALNUM, 40),
        "openai_compatible": lambda: "local-" + _random(ALNUM, 16),
    }
    return makers[service]()


def new_fernet_key() -> str:
    return Fernet.generate_key().decode()


def raw_secrets() -> dict[str, str]:
    """The ``secret`` column as stored (id → text), read past the ORM."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT id, secret FROM byok_byokcredential")
        return {str(row[0]): row[1] for row in cursor.fetchall()}
