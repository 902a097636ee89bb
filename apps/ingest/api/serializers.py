"""Ingest bodies and responses (SPEC §9), with every bound in one place.

A body is one signal, or ``{"signals": [...]}`` with 1–100 signals (the whole body also stays
under the 1 MiB request limit). Errors name the field: ``title`` or ``data.outcome`` for a single
signal, ``signals[3].data.model`` in a batch.

Every signal: ``type`` (one of ``SIGNAL_TYPES``); ``title`` ≤ 500 characters (≤ 2,000 for a
decision); ``body`` ≤ 10,000; ``data`` a JSON object of ≤ 16 KiB (compact UTF-8 JSON) without NUL
characters; ``occurred_at`` an ISO 8601 date or date-time between 1900 and one day from now
(default: the time of the request); ``source`` ≤ 100; ``external_id`` 1–255 characters, unique per
product. Strings must be JSON strings and are NFC-normalised (lengths count NFC characters; not
``external_id``, kept as sent) and trimmed; ``null`` means absent.

Per type:
- ``blocker``, ``unblocked``, ``question``, ``error``, ``release``, ``deploy``, ``ci``: ``title``
  is required (it becomes the list item).
- ``ci``: ``data.outcome`` required, ``success`` | ``failure`` | ``cancelled``.
- ``deploy``: ``data.outcome`` optional (same values, default ``success``); ``deploy`` and
  ``release`` take an optional ``data.status`` (a product status).
- ``session_summary``: ``body`` required, ≤ 4,000 (the summary); optional
  ``data.next_session_starts_here`` (string ≤ 4,000).
- ``decision``: ``title`` is the decision (required, ≤ 2,000), ``body`` the reasoning; ``data`` may
  hold only ``tags``, ``affects_products``, ``alternatives`` and ``supersedes``, with the bounds
  of ``POST /memory/decisions``; ``occurred_at`` is when it was decided.
- ``ai_usage``: ``data`` is required and may hold only ``provider`` (≤ 100), ``model`` (≤ 200),
  ``input_tokens`` and ``output_tokens`` (integers 0–10¹²), ``cost_usd`` (a number ≥ 0, or a string
  spelling a JSON number in ASCII digits; at most 6 decimals kept; absent → priced from the
  genai-prices table, unknown models stay unpriced) and ``operation`` (≤ 50).
- ``commit``, ``issue``, ``note``: ``title`` or ``body`` is required.
Other ``data`` keys of the free-form types are kept as sent.
"""

from __future__ import annotations

from decimal import InvalidOperation

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from apps.costs.models import MODEL_MAX, OPERATION_MAX, PROVIDER_MAX
from apps.costs.services import COST_MAX, TOKENS_MAX
from apps.decisions.api.serializers import InstantField, ProductNameField, StrictUUIDField, TagField
from apps.decisions.models import (
    AFFECTS_MAX,
    ALTERNATIVE_MAX,
    ALTERNATIVES_MAX,
    DECISION_MAX,
    REASONING_MAX,
    TAG_MAX,
    TAGS_MAX,
)
from apps.ingest.models import BODY_MAX, EXTERNAL_ID_MAX, SIGNAL_TYPES, SOURCE_MAX
from apps.products.api.fields import StrictList, StrictString
from apps.products.api.serializers import HANDOFF_MAX, LIST_ITEM_MAX
from apps.products.models import NAME_MAX, ProductState
from synchronex.api.openapi import NOT_BLANK
from synchronex.api.parsers import _JSON_NUMBER, exact_decimal
from synchronex.api.serializers import StrictChoice, StrictSerializer, json_bytes
from synchronex.text import nfc

BATCH_MAX = 100
ITEM_TITLE_MAX = LIST_ITEM_MAX  # the title becomes a product-state list item
SUMMARY_MAX = HANDOFF_MAX
DATA_MAX_BYTES = 16 * 1024
OUTCOMES = ("success", "failure", "cancelled")
# Types whose title becomes a list item of the product state.
ITEM_TYPES = ("blocker", "unblocked", "question", "error", "release", "deploy", "ci")


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@extend_schema_field({"type": "object", "additionalProperties": True})
class JSONObjectField(serializers.Field):
    """A JSON object of at most ``DATA_MAX_BYTES`` as compact JSON (``json_bytes``), without NUL characters."""

    default_error_messages = {
        "invalid": "Must be a JSON object.",
        "size": f"At most {DATA_MAX_BYTES} bytes of JSON.",
        "nul": "Must not contain NUL (U+0000) characters.",
    }

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            self.fail("invalid")
        if json_bytes(data) > DATA_MAX_BYTES:
            self.fail("size")
        if _has_nul(data):
            self.fail("nul")  # PostgreSQL can store NUL neither in text nor in jsonb
        return data

    def to_representation(self, value):
        return value


# JSON Schema counts 1.0 as an integer and cannot tell it from 1: the description says what it cannot.
@extend_schema_field(
    {
        "type": "integer",
        "minimum": 0,
        "maximum": TOKENS_MAX,
        "description": "A JSON integer written without a fraction or exponent (1.0 and 1e3 are refused).",
    }
)
class TokenCountField(serializers.Field):
    """A JSON integer 0–10¹² (no strings, floats or booleans)."""

    default_error_messages = {
        "invalid": "Must be an integer.",
        "range": f"Must be between 0 and {TOKENS_MAX}.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        if not 0 <= data <= TOKENS_MAX:
            self.fail("range")
        return data

    def to_representation(self, value):
        return value


@extend_schema_field(
    {
        "anyOf": [
            {"type": "number", "minimum": 0, "maximum": float(COST_MAX)},
            # A string is read only when it spells a JSON number (``exact_decimal``); its range, checked
            # as well, is no pattern.
            {"type": "string", "pattern": rf"^[ \t\n\r]*{_JSON_NUMBER.pattern}[ \t\n\r]*$"},
        ]
    }
)
class CostField(serializers.Field):
    """A price in USD: a JSON number (or a string spelling one in ASCII digits, ``exact_decimal``),
    0 ≤ cost ≤ the stored maximum."""

    default_error_messages = {
        "invalid": "Must be a number.",
        "range": f"Must be between 0 and {COST_MAX}.",
    }

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int | float | str):
            self.fail("invalid")
        try:
            # The digits sent, not the nearest double's: 9999999999.999999 stays itself.
            amount = exact_decimal(data)
        except InvalidOperation:
            self.fail("invalid")
        if not amount.is_finite():
            self.fail("invalid")
        if not 0 <= amount <= COST_MAX:
            self.fail("range")
        return amount

    def to_representation(self, value):
        return value


def _not_blank(*names: str) -> dict:
    """``names`` hold a non-space character when given: a string of spaces, trimmed, is blank."""
    return {"properties": {name: {"pattern": NOT_BLANK} for name in names}}


class AiUsageDataSerializer(StrictSerializer):
    """``data`` of an ``ai_usage`` signal."""

    schema_constraints = {"allOf": [_not_blank("provider", "model")]}

    provider = StrictString(max_length=PROVIDER_MAX, help_text="e.g. openai, anthropic (stored lower-cased).")
    model = StrictString(max_length=MODEL_MAX, help_text="The model name as the provider spells it.")
    input_tokens = TokenCountField()
    output_tokens = TokenCountField()
    cost_usd = CostField(required=False, allow_null=True, help_text="Absent: priced from the genai-prices table.")
    operation = StrictString(max_length=OPERATION_MAX, required=False, allow_null=True, allow_blank=True)


class DecisionDataSerializer(StrictSerializer):
    """``data`` of a ``decision`` signal (the decision is the title, the reasoning the body)."""

    schema_constraints = {
        "allOf": [
            {"properties": {name: {"items": {"pattern": NOT_BLANK}} for name in ("affects_products", "alternatives")}}
        ]
    }

    tags = StrictList(child=TagField(max_length=TAG_MAX), max_length=TAGS_MAX, required=False)
    affects_products = StrictList(child=ProductNameField(max_length=NAME_MAX), max_length=AFFECTS_MAX, required=False)
    alternatives = StrictList(
        child=StrictString(max_length=ALTERNATIVE_MAX), max_length=ALTERNATIVES_MAX, required=False
    )
    supersedes = StrictUUIDField(required=False, allow_null=True)

    def validate_tags(self, value):
        return list(dict.fromkeys(value))

    # A product named twice in ``affects_products`` (in two spellings) keeps its first, as a
    # decision's own: ``signals_ingest`` drops the repeats of a whole batch in one keying query.


# A title or body a type requires: a string, not blank (null, "" or spaces only is missing).
GIVEN = {"type": "string", "minLength": 1, "pattern": NOT_BLANK}


def _when(types: tuple[str, ...], then: dict) -> dict:
    """A rule of ``SignalSerializer.validate`` for the signals of ``types``, as JSON Schema."""
    return {"if": {"properties": {"type": {"enum": list(types)}}}, "then": then}


class SignalSerializer(StrictSerializer):
    """One signal: ``{type, title?, body?, data?, occurred_at?, source?, external_id?}``."""

    type = StrictChoice(choices=SIGNAL_TYPES)
    title = StrictString(max_length=DECISION_MAX, required=False, allow_blank=True, allow_null=True)
    body = StrictString(max_length=BODY_MAX, required=False, allow_blank=True, allow_null=True)
    data = JSONObjectField(required=False, allow_null=True)
    occurred_at = InstantField(required=False, allow_null=True, help_text="Default: the time of the request.")
    source = StrictString(max_length=SOURCE_MAX, required=False, allow_blank=True, allow_null=True)
    external_id = StrictString(
        max_length=EXTERNAL_ID_MAX,
        required=False,
        allow_null=True,
        verbatim=True,  # the client's own id, compared byte for byte (not NFC-normalised)
        help_text="Your id of the event; a repeat for the same product is counted as a duplicate.",
    )
    # ``validate``'s rules per type, as the OpenAPI document states them (openapi_extensions; a
    # serializer class stands for its component), so a body the document allows is not refused by
    # them, and one it refuses is refused by them.
    schema_constraints = {
        "allOf": [
            _not_blank("external_id"),
            {
                "if": {"properties": {"type": {"const": "decision"}}},
                "else": {"properties": {"title": {"maxLength": ITEM_TITLE_MAX}}},
            },
            _when((*ITEM_TYPES, "decision"), {"required": ["title"], "properties": {"title": GIVEN}}),
            _when(
                ("commit", "issue", "note"),
                {
                    "anyOf": [
                        {"required": ["title"], "properties": {"title": GIVEN}},
                        {"required": ["body"], "properties": {"body": GIVEN}},
                    ]
                },
            ),
            _when(
                ("ci",),
                {
                    "required": ["data"],
                    "properties": {
                        "data": {
                            "type": "object",
                            "required": ["outcome"],
                            "properties": {"outcome": {"enum": list(OUTCOMES)}},
                        }
                    },
                },
            ),
            # ``data`` itself may be absent or null for the other types.
            _when(("deploy",), {"properties": {"data": {"properties": {"outcome": {"enum": [*OUTCOMES, None]}}}}}),
            _when(
                ("deploy", "release"),
                {"properties": {"data": {"properties": {"status": {"enum": [*ProductState.Status.values, None]}}}}},
            ),
            _when(
                ("session_summary",),
                {
                    "required": ["body"],
                    "properties": {
                        "body": {**GIVEN, "maxLength": SUMMARY_MAX},
                        "data": {
                            "properties": {
                                "next_session_starts_here": {"type": ["string", "null"], "maxLength": SUMMARY_MAX}
                            }
                        },
                    },
                },
            ),
            _when(("decision",), {"properties": {"data": {"anyOf": [DecisionDataSerializer, {"type": "null"}]}}}),
            _when(("ai_usage",), {"required": ["data"], "properties": {"data": AiUsageDataSerializer}}),
        ]
    }

    def validate(self, attrs):
        kind = attrs["type"]
        title = attrs.get("title") or ""
        body = attrs.get("body") or ""
        data = attrs.get("data") or {}
        problems: dict = {}
        data_problems: dict = {}

        if kind != "decision" and len(title) > ITEM_TITLE_MAX:
            problems["title"] = [f"Ensure this field has no more than {ITEM_TITLE_MAX} characters."]
        if kind in ITEM_TYPES or kind == "decision":
            if not title:
                problems["title"] = [f"A signal of type {kind} needs a title."]
        elif kind in ("commit", "issue", "note") and not (title or body):
            problems["title"] = [f"A signal of type {kind} needs a title or a body."]

        if kind == "ci" and data.get("outcome") is None:
            data_problems["outcome"] = [f"A ci signal needs data.outcome: {' | '.join(OUTCOMES)}."]
        if kind in ("ci", "deploy") and data.get("outcome") is not None and data["outcome"] not in OUTCOMES:
            data_problems["outcome"] = [f"Must be one of {', '.join(OUTCOMES)}."]
        status = data.get("status")
        if kind in ("deploy", "release") and status is not None and status not in ProductState.Status.values:
            data_problems["status"] = [f"Must be one of {', '.join(ProductState.Status.values)}."]
        if kind == "session_summary":
            if not body:
                problems["body"] = ["A session_summary signal needs a body (the summary)."]
            elif len(body) > SUMMARY_MAX:
                problems["body"] = [f"Ensure this field has no more than {SUMMARY_MAX} characters."]
            handoff = data.get("next_session_starts_here")
            if handoff is not None:
                if not isinstance(handoff, str):
                    data_problems["next_session_starts_here"] = ["Must be a string."]
                elif len(handoff := nfc(handoff).strip()) > SUMMARY_MAX:
                    data_problems["next_session_starts_here"] = [
                        f"Ensure this field has no more than {SUMMARY_MAX} characters."
                    ]
                else:  # it becomes the product's handoff: stored NFC as every text field
                    data = {**data, "next_session_starts_here": handoff}
        if kind == "decision":
            if len(body) > REASONING_MAX:
                problems["body"] = [f"Ensure this field has no more than {REASONING_MAX} characters."]
            checked = DecisionDataSerializer(data=data)
            if checked.is_valid():
                attrs["decision_fields"] = dict(checked.validated_data)
            else:
                data_problems.update(checked.errors)
        if kind == "ai_usage":
            checked = AiUsageDataSerializer(data=data)
            if not attrs.get("data"):
                problems["data"] = ["An ai_usage signal needs data: provider, model, input_tokens, output_tokens."]
            elif checked.is_valid():
                # Absent, null and blank optional values all mean "not given".
                attrs["usage"] = {k: v for k, v in checked.validated_data.items() if v not in (None, "")}
            else:
                data_problems.update(checked.errors)

        if data_problems:
            problems["data"] = data_problems
        if problems:
            raise serializers.ValidationError(problems)
        attrs.update(title=title, body=body, data=data, source=attrs.get("source") or "")
        return attrs


class SignalListSerializer(serializers.ListSerializer):
    """The ``signals`` list: its own errors (not a list, empty, too long) are reported on
    ``signals`` itself, a signal's errors as ``signals[index].field``."""

    def to_internal_value(self, data):
        try:
            return super().to_internal_value(data)
        except serializers.ValidationError as exc:
            detail = exc.detail
            if isinstance(detail, dict) and set(detail) == {api_settings.NON_FIELD_ERRORS_KEY}:
                raise serializers.ValidationError(detail[api_settings.NON_FIELD_ERRORS_KEY]) from None
            if isinstance(detail, dict) and detail and all(isinstance(key, int) for key in detail):
                # DRF reports item errors as {index: errors}; as a list they flatten to ``signals[i]``.
                as_list: list = [{} for _ in range(len(data))]
                for index, errors in detail.items():
                    as_list[index] = errors
                raise serializers.ValidationError(as_list) from None
            raise


class SignalBatchSerializer(StrictSerializer):
    """``{"signals": [...]}``: 1–100 signals, stored all or none."""

    signals = SignalListSerializer(
        child=SignalSerializer(),
        min_length=1,
        max_length=BATCH_MAX,
        allow_empty=False,
        help_text=f"1–{BATCH_MAX} signals; if one is invalid, none is stored.",
    )


class IngestedSignalSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The stored signal (for a duplicate: the one stored before).")
    type = serializers.ChoiceField(choices=SIGNAL_TYPES)
    status = serializers.ChoiceField(
        choices=["pending", "applied", "duplicate"],
        help_text="applied: a decision or cost event was created now; pending: waits for consolidation; "
        "duplicate: the product already had a signal with this external_id.",
    )


class IngestProductSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class IngestResponseSerializer(serializers.Serializer):
    accepted = serializers.IntegerField(help_text="Signals stored now.")
    duplicates = serializers.IntegerField(help_text="Signals not stored again (known external_id).")
    product = IngestProductSerializer()
    signals = IngestedSignalSerializer(many=True, help_text="One entry per signal sent, in order.")
    scope = serializers.CharField()
