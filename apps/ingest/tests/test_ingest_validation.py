"""Bad signals: VALIDATION_ERROR naming the signal and field, and nothing stored (atomic batches)."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from apps.costs.models import CostEvent
from apps.decisions.models import Decision
from apps.ingest.api.serializers import DATA_MAX_BYTES
from apps.ingest.models import Signal
from apps.products.models import ProductState
from synchronex.api.models import IdempotencyRecord

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/ingest/Atlas"
USAGE = {"provider": "openai", "model": "gpt-4o", "input_tokens": 1, "output_tokens": 1}


def fields_of(response) -> dict:
    assert response.status_code == 400, response.text
    body = response.json()["error"]
    assert body["code"] == "VALIDATION_ERROR"
    return body["details"]["fields"]


def nothing_stored():
    assert not Signal.objects.exists()
    assert not Decision.objects.exists()
    assert not CostEvent.objects.exists()
    assert not ProductState.objects.exists()


BAD_SIGNALS = [
    ({"type": "tweet", "title": "x"}, "type"),
    ({"title": "x"}, "type"),
    ({"type": "note", "body": "x", "colour": "red"}, "colour"),
    ({"type": "note"}, "title"),
    ({"type": "note", "title": "   "}, "title"),
    ({"type": "note", "title": 5}, "title"),
    ({"type": "note", "title": "x" * 501}, "title"),
    ({"type": "note", "body": "x" * 10_001}, "body"),
    ({"type": "note", "body": "x", "data": []}, "data"),
    ({"type": "note", "body": "x", "data": {"blob": "x" * 17_000}}, "data"),
    ({"type": "note", "body": "x", "data": {"k": "a\u0000b"}}, "data"),
    ({"type": "note", "body": "a\u0000b"}, "body"),
    ({"type": "note", "body": "x", "occurred_at": "yesterday"}, "occurred_at"),
    ({"type": "note", "body": "x", "occurred_at": "2999-01-01T00:00:00Z"}, "occurred_at"),
    ({"type": "note", "body": "x", "occurred_at": "1850-01-01"}, "occurred_at"),
    ({"type": "note", "body": "x", "occurred_at": "٢٠٢٦-٠٣-٠١"}, "occurred_at"),
    # 1899-12-31T10:00:00Z: the floor is the UTC instant, not the year written.
    ({"type": "note", "body": "x", "occurred_at": "1900-01-01T00:00:00+14:00"}, "occurred_at"),
    ({"type": "decision", "title": "ok", "occurred_at": "1900-01-01T00:00:00+14:00"}, "occurred_at"),
    ({"type": "ai_usage", "data": USAGE, "occurred_at": "1900-01-01T00:00:00+14:00"}, "occurred_at"),
    ({"type": "ai_usage", "data": USAGE, "occurred_at": "1899-12-31T11:59:59-12:00"}, "occurred_at"),
    ({"type": "note", "body": "x", "source": "s" * 101}, "source"),
    ({"type": "note", "body": "x", "external_id": ""}, "external_id"),
    ({"type": "note", "body": "x", "external_id": "e" * 256}, "external_id"),
    ({"type": "note", "body": "x", "external_id": 7}, "external_id"),
    ({"type": "blocker"}, "title"),
    ({"type": "unblocked", "body": "only a body"}, "title"),
    ({"type": "question", "title": ""}, "title"),
    ({"type": "error", "data": {"stack": "..."}}, "title"),
    ({"type": "ci", "title": "build"}, "data.outcome"),
    ({"type": "ci", "title": "build", "data": {"outcome": "red"}}, "data.outcome"),
    ({"type": "deploy", "title": "v1", "data": {"outcome": "maybe"}}, "data.outcome"),
    ({"type": "deploy", "title": "v1", "data": {"status": "done"}}, "data.status"),
    ({"type": "release", "title": "v1", "data": {"status": "live"}}, "data.status"),
    ({"type": "session_summary", "title": "only a title"}, "body"),
    ({"type": "session_summary", "body": "x" * 4_001}, "body"),
    (
        {"type": "session_summary", "body": "x", "data": {"next_session_starts_here": 3}},
        "data.next_session_starts_here",
    ),
    (
        {"type": "session_summary", "body": "x", "data": {"next_session_starts_here": "x" * 4_001}},
        "data.next_session_starts_here",
    ),
    ({"type": "decision"}, "title"),
    ({"type": "decision", "title": "x" * 2_001}, "title"),
    ({"type": "decision", "title": "ok", "data": {"tags": "billing"}}, "data.tags"),
    ({"type": "decision", "title": "ok", "data": {"tags": ["a,b"]}}, "data.tags[0]"),
    ({"type": "decision", "title": "ok", "data": {"tags": ["t"] * 21}}, "data.tags"),
    ({"type": "decision", "title": "ok", "data": {"affects_products": [""]}}, "data.affects_products[0]"),
    ({"type": "decision", "title": "ok", "data": {"supersedes": "nope"}}, "data.supersedes"),
    ({"type": "decision", "title": "ok", "data": {"why": "x"}}, "data.why"),
    ({"type": "ai_usage"}, "data"),
    ({"type": "ai_usage", "data": {**USAGE, "model": None}}, "data.model"),
    ({"type": "ai_usage", "data": {k: v for k, v in USAGE.items() if k != "provider"}}, "data.provider"),
    ({"type": "ai_usage", "data": {**USAGE, "model": "m" * 201}}, "data.model"),
    ({"type": "ai_usage", "data": {**USAGE, "input_tokens": "12"}}, "data.input_tokens"),
    ({"type": "ai_usage", "data": {**USAGE, "input_tokens": 1.5}}, "data.input_tokens"),
    ({"type": "ai_usage", "data": {**USAGE, "output_tokens": -1}}, "data.output_tokens"),
    ({"type": "ai_usage", "data": {**USAGE, "output_tokens": True}}, "data.output_tokens"),
    ({"type": "ai_usage", "data": {**USAGE, "input_tokens": 10**12 + 1}}, "data.input_tokens"),
    ({"type": "ai_usage", "data": {**USAGE, "cost_usd": -0.01}}, "data.cost_usd"),
    ({"type": "ai_usage", "data": {**USAGE, "cost_usd": "lots"}}, "data.cost_usd"),
    ({"type": "ai_usage", "data": {**USAGE, "cost_usd": "NaN"}}, "data.cost_usd"),
    ({"type": "ai_usage", "data": {**USAGE, "operation": "o" * 51}}, "data.operation"),
    ({"type": "ai_usage", "data": {**USAGE, "latency_ms": 5}}, "data.latency_ms"),
]


def test_each_bad_signal_is_named_alone_and_by_its_index_in_a_batch(write_api):
    for signal, field in BAD_SIGNALS:
        fields = fields_of(write_api.post(URL, json=signal))
        assert field in fields, (signal, fields)
    good = {"type": "note", "body": "fine"}
    fields = fields_of(write_api.post(URL, json={"signals": [good, *(signal for signal, _ in BAD_SIGNALS)]}))
    for index, (_, field) in enumerate(BAD_SIGNALS, start=1):
        assert f"signals[{index}].{field}" in fields
    assert not any(name.startswith("signals[0]") for name in fields)
    nothing_stored()


@pytest.mark.parametrize("sent", ["plain", "in_a_list", "in_an_object"])
def test_a_key_sent_as_the_type_is_not_echoed_or_stored(write_api, sent):
    # SPEC §9: a secret never appears in an error. A 400 is kept for Idempotency-Key replays, so
    # an echo would also sit in the idempotency table for a day.
    key = "sk-proj-" + "Zq7" * 16
    kind = {"plain": key, "in_a_list": [key], "in_an_object": {"k": key}}[sent]
    response = write_api.post(URL, json={"type": kind, "body": "x"}, headers={"Idempotency-Key": f"type-{sent}"})
    fields = fields_of(response)
    expected = "Must be one of: commit, " if sent == "plain" else "Not a valid string."
    assert list(fields) == ["type"] and fields["type"][0].startswith(expected), fields
    assert key[-12:] not in response.text
    record = IdempotencyRecord.objects.get(key=f"type-{sent}")
    assert record.status_code == 400 and key[-12:].encode() not in bytes(record.response_body)
    nothing_stored()


def test_data_is_measured_as_compact_json_as_mcp_metadata_is(write_api):
    """16 KiB of JSON counted without the spaces a serialiser may put after "," and ":": 16,384
    bytes are accepted (in UTF-8: "é" is two), however many keys they hold, and one more refused."""
    many_keys = {f"k{i:04d}": i for i in range(1200)}
    assert len(json.dumps(many_keys, separators=(",", ":"))) < DATA_MAX_BYTES < len(json.dumps(many_keys))
    for data in ({"k": "a" * 16_376}, {"k": "é" * 8_188}, many_keys):
        response = write_api.post(URL, json={"type": "note", "title": "build matrix", "data": data})
        assert response.status_code == 202, response.text
    over = {"type": "note", "title": "build matrix", "data": {"k": "a" * 16_377}}
    assert fields_of(write_api.post(URL, json=over)) == {"data": [f"At most {DATA_MAX_BYTES} bytes of JSON."]}


def test_data_numbers_count_as_stored_written_out(write_api):
    """jsonb keeps ``1e300`` as its 301 digits: 54 of them (16,315 bytes stored) are accepted, 55
    (392 bytes of compact JSON as sent, 16,617 stored) refused, so 16 KiB sent is never some 700 KB kept."""
    accepted = write_api.post(URL, json={"type": "note", "title": "x", "data": {"n": [1e300] * 54}})
    assert accepted.status_code == 202, accepted.text

    over = {"type": "note", "title": "x", "data": {"n": [1e300] * 55}}
    assert fields_of(write_api.post(URL, json=over)) == {"data": [f"At most {DATA_MAX_BYTES} bytes of JSON."]}
    assert len(str(Signal.objects.get().data["n"][0])) == 301


def test_a_signal_without_a_title_is_named_by_its_type_without_a_guessed_article(write_api):
    # Not "A error signal" or "A unblocked signal".
    fields = fields_of(write_api.post(URL, json={"signals": [{"type": "error"}, {"type": "issue"}]}))
    assert fields["signals[0].title"] == ["A signal of type error needs a title."]
    assert fields["signals[1].title"] == ["A signal of type issue needs a title or a body."]
    nothing_stored()


@pytest.mark.parametrize("provider", ["open\x07ai", "open\x9bai"])
def test_a_provider_with_a_control_character_is_refused(write_api, provider):
    # C0, DEL and C1 (Unicode's Cc), as product, workspace and key names; checked where the cost is recorded.
    fields = fields_of(write_api.post(URL, json={"type": "ai_usage", "data": {**USAGE, "provider": provider}}))
    assert fields == {"data.provider": ["provider may not contain control characters."]}
    nothing_stored()


def test_a_bad_signal_in_a_batch_names_its_index_and_nothing_is_stored(write_api):
    good = [
        {"type": "decision", "title": "Use Stripe"},
        {"type": "ai_usage", "data": USAGE},
        {"type": "blocker", "title": "b"},
    ]
    bad = {"type": "ai_usage", "data": {**USAGE, "model": 42}}
    fields = fields_of(write_api.post(URL, json={"signals": [*good, bad, {"type": "question"}]}))
    assert set(fields) == {"signals[3].data.model", "signals[4].title"}
    nothing_stored()


def test_a_batch_that_fails_while_storing_stores_nothing(write_api):
    """Validation passes, but the decision of signal 2 supersedes an unknown decision."""
    response = write_api.post(
        URL,
        json={
            "signals": [
                {"type": "decision", "title": "Use Stripe"},
                {"type": "ai_usage", "data": USAGE},
                {
                    "type": "decision",
                    "title": "Use Paddle",
                    "data": {"supersedes": "5f0c2b9e-1111-4222-8333-944455556666"},
                },
            ]
        },
    )
    assert response.status_code == 404, response.text
    error = response.json()["error"]
    assert error["code"] == "NOT_FOUND" and "signals[2].data.supersedes" in error["details"]["fields"]
    nothing_stored()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"signals": []}, "signals"),
        ({"signals": "x"}, "signals"),
        ({"signals": [{"type": "note", "body": "x"}] * 101}, "signals"),
        ({"signals": [{"type": "note", "body": "x"}], "more": 1}, "more"),
        ({"signals": ["note"]}, "signals[0].non_field_errors"),
        ([{"type": "note", "body": "x"}], "non_field_errors"),
    ],
)
def test_bad_batch_shapes(write_api, body, field):
    assert field in fields_of(write_api.post(URL, json=body))
    nothing_stored()


def test_a_batch_of_a_hundred_is_accepted(write_api):
    signals = [{"type": "note", "body": f"n{i}", "external_id": f"n{i}"} for i in range(100)]
    response = write_api.post(URL, json={"signals": signals})
    assert response.status_code == 202 and response.json()["accepted"] == 100


def test_malformed_json_is_a_validation_error(write_api):
    response = write_api.post(URL, data="{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"
    nothing_stored()


def test_a_cost_over_the_maximum_by_less_than_a_double_can_tell_is_refused(write_api):
    # 9999999999.99999901 reads as the double 9999999999.999998, under the maximum; the digits sent are over it.
    body = '{"type":"ai_usage","data":{"provider":"x","model":"y","input_tokens":0,"output_tokens":0,"cost_usd":%s}}'
    response = write_api.post(URL, data=body % "9999999999.99999901", headers={"Content-Type": "application/json"})
    assert "data.cost_usd" in fields_of(response)
    nothing_stored()


@pytest.mark.parametrize(
    "cost",
    ["1_000", "١٢", "１_０", "１０", ".5", "5.", "+5", "05", "1e", "Infinity", "0x10", "1.5\u00a0", "\u20021"],
)
def test_a_cost_string_must_spell_a_json_number_in_ascii_digits(write_api, cost):
    # Decimal() alone reads "1_000" as 1000 and any Unicode digit ("١٢" is 12): money is exact decimal (SPEC §9).
    response = write_api.post(URL, json={"type": "ai_usage", "data": {**USAGE, "cost_usd": cost}})
    assert fields_of(response) == {"data.cost_usd": ["Must be a number."]}
    nothing_stored()


@pytest.mark.parametrize(
    ("cost", "stored"), [("1000", "1000"), ("0.5", "0.5"), ("-0", "0"), ("25E-1", "2.5"), (" 7 ", "7")]
)
def test_a_cost_string_that_spells_a_json_number_is_kept(write_api, cost, stored):
    response = write_api.post(URL, json={"type": "ai_usage", "data": {**USAGE, "cost_usd": cost}})
    assert response.status_code == 202, response.text
    assert CostEvent.objects.get().cost_usd == Decimal(stored)
