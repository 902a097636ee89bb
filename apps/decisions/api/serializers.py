"""Decision bodies, responses and search parameters (SPEC §6).

Every text is NFC-normalised first (``StrictString``), so lengths count NFC characters, and so is
the search's ``q`` and ``tags``. Bounds: decision 1–2,000 characters; reasoning ≤ 10,000; ≤ 20 tags
of 1–50 characters (trimmed, lowercased, duplicates dropped, no commas since search takes a comma list,
no invisible characters: ``TagField``);
``affects_products`` ≤ 20 product names (the product-name rule, duplicates dropped
case-insensitively); ≤ 20 alternatives of 1–2,000 characters; ``decided_at`` an ISO 8601 date
or date-time (naive means UTC) from 1900-01-01T00:00:00Z to one day ahead, compared in UTC
(``InstantField``); ``supersedes`` a decision id.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.decisions.models import (
    AFFECTS_MAX,
    ALTERNATIVE_MAX,
    ALTERNATIVES_MAX,
    DECISION_MAX,
    REASONING_MAX,
    TAG_MAX,
    TAGS_MAX,
)
from apps.products.api.fields import ProductNameField, StrictList, StrictString
from apps.products.models import NAME_MAX
from apps.products.names import (
    format_character_problem,
    name_problem,
    normalise_product_name,
    one_per_key,
    trim_name,
)
from synchronex.api.parsers import ascii_integer, ascii_number
from synchronex.api.serializers import StrictSerializer, iso_utc, query_boolean, query_name_problems
from synchronex.text import nfc

FUTURE_SLACK = timedelta(days=1)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# RFC 3339's forms (ISO 8601's extended calendar form): a dashed date, then optionally a time after
# ``T`` (or ``t`` or a space), with optional seconds, fraction and zone. Python's ``fromisoformat``
# (which ``parse_datetime`` tries first) also reads ISO 8601's basic and week forms, ``20260101`` or
# ``2026-W01-4``, as a midnight date-time: as ``until`` those would cover one instant instead of
# the whole day a dashed date covers, so they are refused rather than read two ways.
# Hours, minutes and offsets are range-checked here: ``fromisoformat`` folds ``+01:99`` into +02:39.
_RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[Tt ](?:[01]\d|2[0-3]):[0-5]\d(?::(?:[0-5]\d|60)(?:\.\d+)?)?"
    r"(?:[Zz]|[+-](?:[01]\d|2[0-3])(?::?[0-5]\d)?)?)?$"
)
# The same forms in the OpenAPI document (``InstantField``): spaces around are trimmed, and the digits
# are ASCII (a schema's ``\d`` may match any script's, as Python's does).
INSTANT_PATTERN = r"^\s*" + _RFC3339.pattern.removeprefix("^").removesuffix("$").replace(r"\d", "[0-9]") + r"\s*$"
# A leap second (second 60, which RFC 3339 and the pattern above allow): Python's datetime has no
# such second, so it is read as the last microsecond of its minute (``parse_instant``).
_LEAP_SECOND = re.compile(r"(?<=[T ]\d{2}:\d{2}:)60(?:\.\d+)?")
EARLIEST_YEAR = 1900
EARLIEST_INSTANT = datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC)


def parse_instant(raw: str) -> tuple[datetime, bool] | None:
    """An RFC 3339 date-time (naive → UTC) or dashed date (→ midnight UTC); the flag says date-only.

    A leap second (``23:59:60``, with any fraction) is the last microsecond of its minute
    (``23:59:59.999999``): it stays on its own day and after every earlier time, where Python's
    parsers refused it as no date at all although RFC 3339 and the OpenAPI pattern allow it.
    ASCII only: Django's parsers match ``\\d``, which takes any script's digits (``٢٠٢٦-٠٥-٠٣``)."""
    raw = raw.strip()
    if not raw.isascii() or not _RFC3339.match(raw):
        return None
    raw = raw.upper()  # RFC 3339 allows ``t`` and ``z``; the parsers read only ``T`` and ``Z``
    raw, leap = _LEAP_SECOND.subn("59", raw)
    try:
        if _DATE_ONLY.match(raw):  # parse_datetime would read a bare date as midnight, losing "whole day"
            day = parse_date(raw)
            return (datetime.combine(day, time.min, tzinfo=UTC), True) if day else None
        moment = parse_datetime(raw)
    except ValueError:
        return None
    if moment is None:
        return None
    if leap:
        moment = moment.replace(microsecond=999_999)
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment, False


# No ``format``: ``date-time`` would refuse a bare date and a date-time without a zone, which are taken.
@extend_schema_field(
    {
        "type": "string",
        "pattern": INSTANT_PATTERN,
        "description": "An RFC 3339 date (midnight UTC) or date-time (without a zone: UTC), "
        "from 1900-01-01T00:00:00Z to one day from now.",
    }
)
class InstantField(serializers.Field):
    """An ISO 8601 date or date-time string, from 1900-01-01T00:00:00Z to now + 1 day.

    Both bounds are compared with the instant, not with the year or clock time as written:
    ``1900-01-01T00:00:00+14:00`` is 1899-12-31T10:00:00Z and is refused, and
    ``1899-12-31T12:00:00-12:00`` is the floor itself and accepted. Judged by its year, the first
    was stored and then refused by the MIF import (which checks decisions with this field), so
    the round trip lost it (SPEC §8).
    """

    default_error_messages = {
        "invalid": "Use an ISO 8601 date (2026-05-03) or date-time (2026-05-03T12:00:00Z).",
        "range": "Must lie between 1900 and one day from now.",
    }

    def to_internal_value(self, data):
        parsed = parse_instant(data) if isinstance(data, str) else None
        if parsed is None:
            self.fail("invalid")
        moment = parsed[0]
        if moment < EARLIEST_INSTANT or moment > timezone.now() + FUTURE_SLACK:
            self.fail("range")
        return moment

    def to_representation(self, value):
        return serializers.DateTimeField().to_representation(value)


class StrictUUIDField(serializers.UUIDField):
    """A UUID given as a JSON string (DRF would also read an integer as a UUID)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid", value=data)
        return super().to_internal_value(data)


# Stated whole (an override drops the mapped bounds): every TagField is TAG_MAX long at most.
@extend_schema_field({"type": "string", "minLength": 1, "maxLength": TAG_MAX, "pattern": r"^[^,]*[^,\s][^,]*$"})
class TagField(StrictString):
    """A tag: trimmed, lowercased, not blank, without a comma (search takes tags as a comma list) and
    without invisible characters.

    Invisible characters follow the product-name rule (``apps.products.names``): trimmed at the
    ends with the whitespace (``trim_name``), and inside a tag a VALIDATION_ERROR naming the
    character (``format_character_problem``: a zero-width space, a BOM, the bidi controls...), so
    ``prod`` and ``pro\u200bd`` are never two tags that look the same, one of which the search's
    ``tags`` filter cannot find. ZWJ, ZWNJ, variation selectors and an emoji tag sequence are
    visible parts of a tag, as of a name, and stay."""

    def to_internal_value(self, data):
        value = trim_name(super().to_internal_value(data)).lower()
        if not value:  # invisible characters alone: past CharField's blank check, which trims whitespace only
            self.fail("blank")
        if "," in value:
            raise serializers.ValidationError("A tag may not contain a comma.")
        if problem := format_character_problem("A tag", value):
            raise serializers.ValidationError(problem)
        return value


def _dedupe(values: list[str], key=lambda v: v) -> list[str]:
    seen, kept = set(), []
    for value in values:
        if key(value) not in seen:
            seen.add(key(value))
            kept.append(value)
    return kept


class DecisionCreateSerializer(StrictSerializer):
    """``POST /memory/decisions``."""

    decision = StrictString(max_length=DECISION_MAX, help_text=f"The decision (1–{DECISION_MAX} characters).")
    product_name = ProductNameField(
        max_length=NAME_MAX, help_text="The product it belongs to; created when missing (case-insensitive)."
    )
    reasoning = StrictString(
        max_length=REASONING_MAX, allow_blank=True, required=False, help_text=f"Why (≤ {REASONING_MAX} characters)."
    )
    tags = StrictList(
        child=TagField(max_length=TAG_MAX),
        max_length=TAGS_MAX,
        required=False,
        help_text=f"≤ {TAGS_MAX} tags of ≤ {TAG_MAX} characters; trimmed (invisible characters at the ends too); "
        "lowercased; no commas, bidi or invisible characters (as product names).",
    )
    affects_products = StrictList(
        child=ProductNameField(max_length=NAME_MAX),
        max_length=AFFECTS_MAX,
        required=False,
        help_text=f"Names of other products this decision affects (≤ {AFFECTS_MAX}).",
    )
    alternatives = StrictList(
        child=StrictString(max_length=ALTERNATIVE_MAX),
        max_length=ALTERNATIVES_MAX,
        required=False,
        help_text=f"Alternatives considered (≤ {ALTERNATIVES_MAX} of ≤ {ALTERNATIVE_MAX} characters).",
    )
    supersedes = StrictUUIDField(
        required=False,
        allow_null=True,
        help_text="Id of a decision of the same scope that this one replaces (unknown → NOT_FOUND; "
        "already superseded → CONFLICT); one of another product adds that product to affects_products.",
    )
    decided_at = InstantField(required=False, help_text="When it was decided (default: now).")

    def validate_tags(self, value):
        return _dedupe(value)

    def validate_affects_products(self, value):
        return one_per_key(value)  # by the product table's key, which affects_keys holds


class DecisionSerializer(serializers.Serializer):
    """A decision as the API shows it."""

    id = serializers.UUIDField()
    decision = serializers.CharField()
    product_name = serializers.CharField(source="product.name")
    reasoning = serializers.CharField()
    tags = serializers.ListField(child=serializers.CharField())
    affects_products = serializers.ListField(child=serializers.CharField())
    alternatives = serializers.ListField(child=serializers.CharField())
    supersedes = serializers.UUIDField(source="supersedes_id", allow_null=True)
    superseded_by = serializers.UUIDField(source="superseded_by_id", allow_null=True)
    decided_at = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    source = serializers.CharField()


class DecisionWithScopeSerializer(DecisionSerializer):
    scope = serializers.CharField()


class ScoreDetailSerializer(serializers.Serializer):
    text = serializers.FloatField(allow_null=True, help_text="Text branch: (k+1)/(k+rank), k = 60; null without q.")
    semantic = serializers.FloatField(
        allow_null=True, help_text="Vector branch: (k+1)/(k+rank); 0 outside the nearest 100; null when not used."
    )
    recency = serializers.FloatField(help_text="exp(-ln2 · age_days / half_life_days).")


class SearchHitSerializer(DecisionSerializer):
    score = serializers.FloatField(
        help_text="0.8 × mean of the used branches + 0.2 × recency with q; the recency factor without q."
    )
    score_detail = ScoreDetailSerializer()
    match = serializers.ChoiceField(choices=["direct", "affects"])


class TokenUsageSerializer(serializers.Serializer):
    budget = serializers.IntegerField()
    used = serializers.IntegerField()
    truncated = serializers.BooleanField()


class SearchResponseSerializer(serializers.Serializer):
    results = SearchHitSerializer(many=True)
    count = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    next_offset = serializers.IntegerField(allow_null=True)
    semantic = serializers.BooleanField(help_text="Whether vector similarity took part in the ranking.")
    scope = serializers.CharField()
    tokens = TokenUsageSerializer(required=False, help_text="Present when token_budget was given.")


def decision_representation(decision) -> dict:
    """``DecisionSerializer``'s output, built directly: search pages serialise up to 100 of
    these per request, and a DRF serializer per row costs about a millisecond each."""
    return {
        "id": str(decision.id),
        "decision": decision.decision,
        "product_name": decision.product.name,
        "reasoning": decision.reasoning,
        "tags": list(decision.tags),
        "affects_products": list(decision.affects_products),
        "alternatives": list(decision.alternatives),
        "supersedes": str(decision.supersedes_id) if decision.supersedes_id else None,
        "superseded_by": str(decision.superseded_by_id) if decision.superseded_by_id else None,
        "decided_at": iso_utc(decision.decided_at),
        "created_at": iso_utc(decision.created_at),
        "source": decision.source,
    }


def hit_representation(hit) -> dict:
    body = decision_representation(hit.decision)
    body.update(score=hit.score, score_detail=hit.score_detail, match=hit.match)
    return body


# --- search query parameters ---------------------------------------------------------------------
# NUL in ``q`` or a tag: the words every text field of the API answers it with (DRF's CharField,
# through Django's ProhibitNullCharactersValidator), so memory search, whose ``q`` is such a
# field, and decision search say the same.
NUL_MESSAGE = "Null characters are not allowed."
Q_MAX = 500
HALF_LIFE_MAX = 36_500
TOKEN_BUDGET_MAX = 100_000
SEARCH_PARAMS = (
    "q",
    "product",
    "tags",
    "since",
    "until",
    "include_related",
    "include_superseded",
    "half_life_days",
    "token_budget",
    "limit",
    "offset",
)


def parse_search_params(query) -> tuple[dict, dict[str, str]]:
    """Strictly validate the search query string; returns ``decision_search`` keyword arguments
    (``limit``/``offset`` are left to ``Page``) and every problem found, by name, for
    ``Page.from_request`` to report with the page's in one VALIDATION_ERROR."""
    problems = query_name_problems(query, SEARCH_PARAMS)
    out: dict = {}

    q = query.get("q")
    if q is not None:
        q = nfc(q).strip()  # the stored text is NFC (its length too)
        if len(q) > Q_MAX:
            problems["q"] = f"At most {Q_MAX} characters."
        elif "\x00" in q:
            problems["q"] = NUL_MESSAGE
        out["q"] = q or None

    product = query.get("product")
    if product is not None:
        name = normalise_product_name(product)
        problem = name_problem(name)
        if problem:
            problems["product"] = problem
        out["product"] = name

    tags_raw = query.get("tags")
    if tags_raw is not None:
        tags = [t.strip().lower() for t in nfc(tags_raw).split(",")]
        if any(not t for t in tags):
            problems["tags"] = "A comma-separated list of non-empty tags."
        elif len(tags) > TAGS_MAX:
            problems["tags"] = f"At most {TAGS_MAX} tags."
        elif any(len(t) > TAG_MAX for t in tags):
            problems["tags"] = f"Each tag has at most {TAG_MAX} characters."
        elif any("\x00" in t for t in tags):
            problems["tags"] = NUL_MESSAGE
        out["tags"] = _dedupe(tags)

    for name in ("since", "until"):
        raw = query.get(name)
        if raw is None:
            continue
        parsed = parse_instant(raw)
        if parsed is None:
            problems[name] = "Use an ISO 8601 date (2026-05-03) or date-time (2026-05-03T12:00:00Z)."
            continue
        moment, date_only = parsed
        if name == "until":
            # ``until`` is inclusive: a whole day for a date, the instant itself for a date-time.
            try:
                moment = moment + (timedelta(days=1) if date_only else timedelta(microseconds=1))
            except OverflowError:
                moment = datetime.max.replace(tzinfo=UTC)
        out[name] = moment
    if "since" in out and "until" in out and out["since"] >= out["until"]:
        problems["until"] = "Must not be earlier than since."

    for name in ("include_related", "include_superseded"):
        raw = query.get(name)
        if raw is not None:
            value = query_boolean(raw)
            if value is None:
                problems[name] = "Use true or false."
            out[name] = value

    raw = query.get("half_life_days")
    if raw is not None:
        value = ascii_number(raw)  # a JSON number in ASCII: float() also read "1_0", "٣" and ".5"
        if value is None or not (0 < value <= HALF_LIFE_MAX):
            problems["half_life_days"] = f"A number of days above 0 and at most {HALF_LIFE_MAX}."
        out["half_life_days"] = value

    raw = query.get("token_budget")
    if raw is not None:
        value = ascii_integer(raw)
        if value is None or not (1 <= value <= TOKEN_BUDGET_MAX):
            problems["token_budget"] = f"An integer between 1 and {TOKEN_BUDGET_MAX}."
        out["token_budget"] = value
    return out, problems
