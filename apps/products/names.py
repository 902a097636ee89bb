"""The one rule for product names (SPEC §5): trimmed, NFC, 1–100 characters, no control characters.

Names keep their original spelling; lookups and the per-space unique key are case-insensitive.
"""

from __future__ import annotations

import unicodedata

from synchronex.api import errors

from .models import NAME_MAX


def normalise_product_name(raw: str) -> str:
    """Trim and NFC-normalise (so a name typed on two keyboards is one product)."""
    return unicodedata.normalize("NFC", raw).strip()


def name_problem(name: str) -> str | None:
    """Why a normalised name is not acceptable, or None."""
    if not name:
        return "A product name may not be blank."
    if len(name) > NAME_MAX:
        return f"A product name has at most {NAME_MAX} characters."
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        return "A product name may not contain control characters."
    return None


def clean_product_name(raw, *, field: str = "name") -> str:
    """The normalised name, or VALIDATION_ERROR naming ``field``."""
    if not isinstance(raw, str):
        raise errors.ValidationFailed.for_fields({field: "A product name must be a string."})
    name = normalise_product_name(raw)
    problem = name_problem(name)
    if problem:
        raise errors.ValidationFailed.for_fields({field: problem})
    return name
