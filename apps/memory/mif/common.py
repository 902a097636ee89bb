"""Names, timestamps and JSON forms shared by the MIF export and import."""

from __future__ import annotations

import json
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.conf import settings

from apps.decisions.api.serializers import parse_instant
from apps.memory.services import LONE_SURROGATE
from synchronex.api import errors
from synchronex.db.references import space_row_held

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

SCOPE_DELETED = (
    "This scope was deleted while the import ran: the import stopped there, and what it had stored went with the scope."
)

# Namespace of the UUIDv5 ids derived here (foreign items without a UUID; restored rows whose id
# was taken, before ``origin_id`` existed). Fixed forever: the same input always derives the same
# id, so re-imports dedupe.
ID_NAMESPACE = uuid.UUID("e26dae58-ac1c-4d9c-9f4c-e21a59916bc0")


def generator() -> dict:
    return {"name": VENDOR, "version": settings.SPECTACULAR_SETTINGS["VERSION"]}


def space_kept(space_id) -> None:
    """Last in each transaction of an import: hold the space's row until it commits
    (``space_row_held``), or raise NOT_FOUND when an admin deleted the space meanwhile.

    An import commits in parts, and a part written into a deleted space was refused at its COMMIT
    by the space's key, which the import's own handling of conflicts took for something else.
    """
    if not space_row_held(space_id):
        raise errors.NotFound(SCOPE_DELETED)


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
    """A date or date-time string as a UTC moment, read by the REST API's rule (``parse_instant``),
    or None: what the API refuses is refused here too, and what it takes means the same moment.

    That rule is RFC 3339's spellings, trimmed: ``t``/``z`` in either case, seconds, a fraction and
    an offset optional; a date-time without an offset is UTC (as MIF import always read it), and a
    bare date its midnight UTC. ISO 8601's basic and week forms (``20260503T120000Z``,
    ``2026-W18-7``), hours alone, a decimal comma, an offset with seconds or past ``:59``
    (``+01:99``, which was read as +02:39) are refused: a document's record with one is a bad item,
    as the same text is a VALIDATION_ERROR on the API. None also for a moment outside the years 1
    to 9999 in UTC, which no row could be read back with.
    """
    if not isinstance(value, str):
        return None
    parsed = parse_instant(value)
    if parsed is None:
        return None
    try:
        return parsed[0].astimezone(UTC)
    except OverflowError:
        return None


# What ``json.dumps`` writes otherwise than RFC 8785 (JCS): a float that is integral ("1.0") or
# has an exponent ("1e-05", "1e+16"); a key order that is not UTF-16's, possible only with a
# character beyond U+FFFF. Text with neither is JCS already. The float is looked for as a whole
# value (between ":", "," or "[" and ",", "]" or "}"), so that text such as "v1.0" or an id's
# "…9e-4b…" does not send a memory down the slower path.
_FLOAT_HINT = re.compile(r"[:,\[]-?[0-9]+(?:\.0|(?:\.[0-9]+)?e[-+][0-9]+)[,\]}]")
_BEYOND_BMP = re.compile("[\U00010000-\U0010ffff]")
# In compact text json.dumps wrote: a JSON string (kept as it is), or a float it writes otherwise
# than JCS. Strings are taken whole, and a number is matched from its start only (at the start of
# the text or after ":", "," or "["), with no backtracking through a vector's digits.
_TOKEN = re.compile(r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|(?<![^:,\[])-?[0-9]++(?:\.0(?![0-9])|(?:\.[0-9]++)?e[-+][0-9]++)')


def canonical(value) -> str:
    """The canonical JSON text of ``value``: RFC 8785, the JSON Canonicalization Scheme (JCS).

    Keys sorted by their UTF-16 code units, no whitespace, strings escaped only where JSON must
    (UTF-8 characters kept), numbers as ECMAScript writes them (``1``, not ``1.0``; ``0.00001``,
    ``1e-7``, ``1e+21``). Any JCS library reproduces it, in any language: the export writes every
    memory in this form, and ``export_meta.checksum`` is the SHA-256 of the canonical text of the
    ``memories`` array. One exception, outside JCS's domain (I-JSON's doubles): an integer beyond
    ±(2**53 - 1) is written with all its digits, not rounded to a double.

    ``json.dumps`` writes the text (in C); only what it writes otherwise than JCS — floats and,
    with a character beyond U+FFFF, the key order — is redone, so most values cost one call.
    """
    if isinstance(value, float) and math.isfinite(value):  # alone: none of _FLOAT_HINT's delimiters
        return _jcs_float(value)
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if not text.isascii() and _BEYOND_BMP.search(text):
        text = json.dumps(_utf16_ordered(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if _FLOAT_HINT.search(text):
        text = _TOKEN.sub(_jcs_number, text)
    return text


def sorted_json(value) -> str:
    """JSON with sorted keys (code point order), no spaces, UTF-8: the text the restore patch's
    fingerprints are of (``compat.fingerprint``). Fixed: exports already written hold them."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _utf16_ordered(value):
    """``value`` with every object's keys inserted in UTF-16 code unit order (RFC 8785 §3.2.3)."""
    if isinstance(value, dict):
        ordered = sorted(value.items(), key=lambda item: item[0].encode("utf-16-be", "surrogatepass"))
        return {key: _utf16_ordered(item) for key, item in ordered}
    if isinstance(value, list | tuple):
        return [_utf16_ordered(item) for item in value]
    return value


def _jcs_number(match: re.Match) -> str:
    token = match.group()
    return token if token[0] == '"' else _jcs_float(float(token))


def _jcs_float(value: float) -> str:
    """A finite float as ECMAScript's Number::toString writes it (RFC 8785 §3.2.2.3), from the
    shortest digits that read back as the same double (those of Python's ``repr`` too)."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, places, exponent = Decimal(repr(abs(value))).as_tuple()
    spelled = "".join(map(str, places))
    digits = spelled.rstrip("0")
    exponent += len(spelled) - len(digits)  # value = <digits> × 10**exponent
    point = len(digits) + exponent  # value = 0.<digits> × 10**point
    size = len(digits)
    if size <= point <= 21:
        return sign + digits + "0" * (point - size)
    if 0 < point <= 21:
        return sign + digits[:point] + "." + digits[point:]
    if -6 < point <= 0:
        return sign + "0." + "0" * -point + digits
    power = point - 1
    mantissa = digits if size == 1 else f"{digits[0]}.{digits[1:]}"
    return f"{sign}{mantissa}e{'+' if power > 0 else '-'}{abs(power)}"


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


# An import report lists this many errors (warnings, paths not imported): the lowest indices.
MAX_REPORTED_ERRORS = 1_000


def cut_reported(items: list, *, key) -> None:
    """Keep the ``MAX_REPORTED_ERRORS`` first of ``items`` by ``key`` (a stable sort: ties keep
    their order)."""
    items.sort(key=key)
    del items[MAX_REPORTED_ERRORS:]


def keep_reported(items: list, *, key) -> None:
    """``cut_reported`` once ``items`` (appended one at a time) holds twice as many, so a document
    of millions of bad items (12.5 million ``1``s fit in the 25 MiB body) holds a thousand of them,
    not millions. The final cut then keeps the same items, in the same order."""
    if len(items) >= 2 * MAX_REPORTED_ERRORS:
        cut_reported(items, key=key)


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
