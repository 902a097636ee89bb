"""Serializer building blocks shared by every app."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import empty
from rest_framework.settings import api_settings

from synchronex.api.parsers import json_leaves


def iso_utc(moment: datetime | None) -> str | None:
    """A moment as DRF's DateTimeField writes it (this project's time zone is UTC): ISO 8601 with
    ``Z`` (SPEC §1), microseconds when there are any; None for None. For bodies built without a
    serializer (search pages, MCP tool results, error details)."""
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def json_bytes(value) -> int:
    """The size of a JSON value as its bounds count it ("≤ 16 KiB" of ingest ``data`` and MCP
    ``metadata``): UTF-8 bytes of compact JSON, without the spaces a client's serialiser may or may
    not put after "," and ":", so the same value measures the same however it was sent; each number
    counted as jsonb stores and serves it (``jsonb_number``), so the bound holds for what is kept."""
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
    # json.dumps writes a float as float.__repr__ does; an int has the same digits in both.
    return size + sum(
        len(jsonb_number(leaf)) - len(float.__repr__(leaf)) for leaf in json_leaves(value) if isinstance(leaf, float)
    )


def jsonb_number(number: float) -> str:
    """A float as PostgreSQL's jsonb gives it back: jsonb keeps numbers as ``numeric``, which is
    printed with every digit and no exponent, so ``1e300`` comes back as 301 digits (an integer to
    a JSON reader) and ``1e-300`` as 302 characters; a zero has no sign."""
    spelled = Decimal(float.__repr__(number))  # what the ORM sends: json.dumps' spelling
    text = format(spelled, "f")
    return text.lstrip("-") if spelled.is_zero() else text


@extend_schema_field({"type": "string", "format": "idn-email"})
class EmailAnswerField(serializers.CharField):
    """An account's email in an answer. An account may have any address (``jürgen@ex.com``, as
    ``create_api_key --create-user`` makes), so the document says ``idn-email`` (RFC 6531), not
    ``email``, which allows ASCII only."""


# How many unknown fields of one object an error names. A body under the size limit may hold
# 100,000 unknown keys; naming each made an answer of megabytes (3.5 MB for one section) and took
# seconds to build. Past this many, the first ones in sorted order are named and ``non_field_errors``
# says how many there are in all: enough to find a misspelling, and the same answer on every retry.
UNKNOWN_FIELDS_NAMED = 20


def unknown_fields(data: dict, known) -> dict[str, list[str]]:
    """The errors of the keys of ``data`` not in ``known``: each named ("Unknown field."), up to
    ``UNKNOWN_FIELDS_NAMED`` of them in sorted order, then one ``non_field_errors`` message that
    counts them all."""
    names = sorted(set(data) - set(known))
    errors = {name: ["Unknown field."] for name in names[:UNKNOWN_FIELDS_NAMED]}
    if len(names) > UNKNOWN_FIELDS_NAMED:
        errors[api_settings.NON_FIELD_ERRORS_KEY] = [
            f"{len(names)} unknown fields in all; the first {UNKNOWN_FIELDS_NAMED} (in sorted order) are named."
        ]
    return errors


class StrictChoice(serializers.ChoiceField):
    """One of a set of names (a status, a role, a type, a service, a format). A JSON string only,
    and its errors name the choices, never the value sent (DRF's quote it): a key pasted into the
    wrong field would be sent back, and kept with the 400 for Idempotency-Key replays (SPEC §9: a
    secret never appears in an error). The MCP tools' enum errors read the same."""

    default_error_messages = {"invalid": "Not a valid string.", "invalid_choice": "Must be one of: {choices}."}

    def to_internal_value(self, data):
        if data == "" and self.allow_blank:
            return ""
        if not isinstance(data, str):
            self.fail("invalid")
        if data not in self.choice_strings_to_values:
            self.fail("invalid_choice", choices=", ".join(self.choice_strings_to_values))
        return self.choice_strings_to_values[data]


def types_problem(names: list[str], allowed) -> str | None:
    """Why a comma-separated list of types (``?types=``) is not one, or None. As ``StrictChoice``,
    it names the choices and the place of the first entry that is none, never the entry itself."""
    for place, name in enumerate(names, start=1):
        if name not in allowed:
            return f"Each type must be one of: {', '.join(allowed)} (entry {place} of {len(names)} is not)."
    return None


class StrictSerializer(serializers.Serializer):
    """Rejects bodies that are not JSON objects and names their unknown fields (the first 20 in
    sorted order, and how many there are, when there are more)."""

    NOT_AN_OBJECT = {"non_field_errors": ["The body must be a JSON object."]}

    def run_validation(self, data=empty):
        # A body of JSON null: DRF would answer "No data provided" before to_internal_value sees it.
        if data is None and self.parent is None:
            raise serializers.ValidationError(self.NOT_AN_OBJECT)
        return super().run_validation(data)

    def to_internal_value(self, data):
        if not isinstance(data, dict):
            raise serializers.ValidationError(self.NOT_AN_OBJECT)
        unknown = unknown_fields(data, self.fields)
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            # Report unknown fields together with the other problems, in one answer.
            detail = {**unknown, **exc.detail}
            both = unknown.get(api_settings.NON_FIELD_ERRORS_KEY), exc.detail.get(api_settings.NON_FIELD_ERRORS_KEY)
            if all(both):
                detail[api_settings.NON_FIELD_ERRORS_KEY] = [*both[0], *both[1]]
            raise serializers.ValidationError(detail) from None
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField(required=False)


class ErrorSerializer(serializers.Serializer):
    """The error envelope of every non-2xx response (except the account quota's 429)."""

    error = ErrorDetailSerializer()


class RateLimitExceededSerializer(serializers.Serializer):
    """The exact body of a 429 from the account quota."""

    error = serializers.CharField(default="rate_limit_exceeded")
    retry_after = serializers.IntegerField()
    limit = serializers.IntegerField()
    remaining = serializers.IntegerField()
    reset_at = serializers.CharField()


def query_boolean(raw: str) -> bool | None:
    """A boolean query option: ``true`` or ``false`` in any case, else None (the caller's
    VALIDATION_ERROR: "Use true or false."). Not DRF's list, which also takes 1, yes and on."""
    return {"true": True, "false": False}.get(raw.strip().lower())


UNKNOWN_QUERY_PARAMETER = "Unknown query parameter."


def query_name_problems(query, names: tuple[str, ...]) -> dict[str, str]:
    """The parameters of ``query`` (a ``QueryDict``) that are not among ``names`` or are given more
    than once, each with its message: the strict routes (searches, exports, costs) answer them with
    VALIDATION_ERROR, since ignoring a misspelt filter, or picking one of two values, would answer
    another question."""
    problems = dict.fromkeys(sorted(set(query) - set(names)), UNKNOWN_QUERY_PARAMETER)
    for name in names:
        if len(query.getlist(name)) > 1:
            problems[name] = "Give this parameter at most once."
    return problems
