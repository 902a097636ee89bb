"""The one rule of an account's email address, wherever one is typed: the workspace-members API
(``AccountEmailField``), ``create_api_key``, ``createsuperuser`` and the admin's user page.

Checked only loosely: an account may have any address (``jürgen@example.com``), and Django's
``EmailValidator`` refuses a non-ASCII local part. What is refused is what could never be an
address, or would look like another account's: no ``@`` with text on both sides, whitespace,
control characters, and invisible ones (a zero-width space, a BOM, bidi controls, a soft hyphen).
"""

from __future__ import annotations

import unicodedata

import regex
from django.core.exceptions import ValidationError

from apps.products.names import has_control_character

EMAIL_MAX = 254

_INVISIBLE = regex.compile(r"\p{Default_Ignorable_Code_Point}")


def email_problem(value: str) -> str | None:
    """Why ``value`` (trimmed, NFC) is no account's address, or None."""
    if found := _INVISIBLE.search(value):
        ch = found.group()
        called = unicodedata.name(ch, "").lower()
        return f"An email address may not contain U+{ord(ch):04X}{f' ({called})' if called else ''}: it is invisible."
    local, _, domain = value.partition("@")
    if not local or not domain or "@" in domain or any(ch.isspace() for ch in value) or has_control_character(value):
        return "Enter an email address: one @ with text on both sides, no spaces."
    return None


def validate_account_email(value: str) -> None:
    """The rule as a model field's validator (``User.email``)."""
    if problem := email_problem(value):
        raise ValidationError(problem, code="invalid")
