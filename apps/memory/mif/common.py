"""Names, timestamps and JSON forms shared by the MIF export and import."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.utils.dateparse import parse_datetime

from apps.memory.services import LONE_SURROGATE

MIF_VERSION = "2.0"
VENDOR = "synchronex"
# Version of the layout of ``vendor_extensions.synchronex``; bumped when it changes incompatibly.
EXTENSION_FORMAT = 1

# The kinds of row an export writes, as named in ``vendor_extensions.synchronex.kind``.
KIND_KERNEL = "identity_kernel"
KIND_PRODUCT = "product_state"
KIND_DECISION = "decision"
KIND_MEMORY = "memory"

# The ``types`` filter of the export: the same words as memory search uses.
EXPORT_TYPES = ("identity", "product", "decision", "memory")

TAG_PRODUCT_STATE = "product-state"
TAG_IDENTITY_KERNEL = "identity-kernel"

# Namespace of the UUIDv5 ids derived here (foreign items without a UUID; restored rows whose id
# was taken, before ``origin_id`` existed). Fixed forever: the same input always derives the same
# id, so re-imports dedupe.
ID_NAMESPACE = uuid.UUID("e26dae58-ac1c-4d9c-9f4c-e21a59916bc0")


def generator() -> dict:
    return {"name": VENDOR, "version": settings.SPECTACULAR_SETTINGS["VERSION"]}


def derived_id(*parts: str) -> uuid.UUID:
    """A stable UUIDv5 from text parts (NUL-separated, so parts cannot run into each other)."""
    return uuid.uuid5(ID_NAMESPACE, "\x00".join(parts))


def iso_z(moment: datetime | None) -> str | None:
    """UTC ISO 8601 with ``Z``; microseconds only when there are any (RFC 3339 either way)."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC).replace(tzinfo=None)
    # isoformat, not strftime: glibc's %Y does not pad years before 1000 to four digits.
    return moment.isoformat(timespec="microseconds" if moment.microsecond else "seconds") + "Z"


def parse_timestamp(value) -> datetime | None:
    """An ISO 8601 date-time string (a naive one is read as UTC) as a UTC moment, or None (also
    for a moment outside the years 1 to 9999 in UTC, which no row could be read back with)."""
    if not isinstance(value, str) or not value.isascii():  # parse_datetime's \d takes any digits
        return None
    try:
        parsed = parse_datetime(value.strip())
        if parsed is None:
            return None
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def canonical(value) -> str:
    """The canonical JSON text of ``value``: sorted keys, no spaces, UTF-8 characters kept.

    The export writes every memory in this form, and ``export_meta.checksum`` is the SHA-256 of
    the canonical text of the ``memories`` array, so a reader can verify it with
    ``json.dumps(doc["memories"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)``.
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def as_metadata_string(value) -> str:
    """A metadata value as a string (strict readers want strings): JSON text for non-strings."""
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)


def canonical_uuid(value) -> str | None:
    """The canonical form of a UUID given as a string, or None when it is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@dataclass
class Candidate:
    """One item of an imported document: its position, its id as given, and either the MIF
    memory it becomes or why it cannot be imported."""

    index: int
    id: str | None
    memory: dict | None = None
    error: str | None = None


def given_id(item) -> str | None:
    """An item's id as the document gave it, for error reports (a lone UTF-16 surrogate, which
    no UTF-8 answer can carry, shown as U+FFFD)."""
    value = item.get("id") if isinstance(item, dict) else None
    if value is None or isinstance(value, dict | list):
        return None
    return LONE_SURROGATE.sub("\ufffd", str(value)[:255])
