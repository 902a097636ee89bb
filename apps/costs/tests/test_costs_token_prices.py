"""A model the price table knows but does not price per token for the tokens reported (text to
speech per character, transcription per audio hour, embeddings per input token only) is unpriced
and flagged, never a priced $0 (SPEC §9)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.costs.models import CostEvent
from apps.costs.pricing import price_usd

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("provider", "model", "input_tokens", "output_tokens"),
    [
        ("openai", "tts-1", 2_000_000, 0),  # $15 per million input characters, no token price
        ("openai", "tts-1-hd", 2_000_000, 0),  # $30 per million input characters
        ("openai", "whisper-1", 500_000, 20_000),  # $0.36 per audio hour
        ("openai", "tts-1", 0, 0),  # no token price at all: even no tokens is no price
        ("openai", "text-embedding-3-small", 1000, 10),  # input tokens only: output has no price
    ],
)
def test_tokens_the_table_has_no_token_price_for_are_unpriced(provider, model, input_tokens, output_tokens):
    assert (
        price_usd(provider=provider, model=model, input_tokens=input_tokens, output_tokens=output_tokens, at=AT) is None
    )


@pytest.mark.parametrize(
    ("provider", "model", "input_tokens", "output_tokens", "expected"),
    [
        ("openai", "text-embedding-3-small", 100_000, 0, "0.002000"),  # input only, as priced
        ("openai", "gpt-4o", 0, 0, "0.000000"),  # token prices, no tokens: nothing to pay
        # The table prices these at nothing (a free tier, or included in a subscription).
        ("openrouter", "meta-llama/llama-3.3-70b-instruct:free", 1000, 500, "0.000000"),
        ("openai", "omni-moderation-latest", 1000, 0, "0.000000"),
    ],
)
def test_tokens_the_table_prices_keep_their_price(provider, model, input_tokens, output_tokens, expected):
    price = price_usd(provider=provider, model=model, input_tokens=input_tokens, output_tokens=output_tokens, at=AT)
    assert price == Decimal(expected)


@pytest.mark.django_db(transaction=True)
def test_ingested_usage_of_models_without_a_token_price_is_reported_unpriced(write_api, read_api):
    usage = [
        ("tts-1-hd", 2_000_000, 0),
        ("whisper-1", 500_000, 20_000),
        ("text-embedding-3-small", 1000, 10),
        ("gpt-4o", 1000, 1000),
    ]
    signals = [
        {"type": "ai_usage", "data": {"provider": "openai", "model": m, "input_tokens": i, "output_tokens": o}}
        for m, i, o in usage
    ]
    response = write_api.post("/api/v1/ingest/Voice", json={"signals": signals})
    assert response.status_code == 202, response.text

    costs = read_api.get("/api/v1/ai/costs/Voice", params={"days": 1})
    assert costs.status_code == 200, costs.text
    body = costs.json()
    assert body["requests"] == 4 and body["unpriced_requests"] == 3
    assert body["total_cost_usd"] == 0.0125  # gpt-4o's alone: $2.50 and $10 per million
    rows = {row["model"]: (row["cost_usd"], row["unpriced_requests"]) for row in body["by_model"]}
    assert rows == {
        "tts-1-hd": (0, 1),
        "whisper-1": (0, 1),
        "text-embedding-3-small": (0, 1),
        "gpt-4o": (0.0125, 0),
    }
    assert set(CostEvent.objects.filter(unpriced=True).values_list("model", "cost_usd")) == {
        ("tts-1-hd", None),
        ("whisper-1", None),
        ("text-embedding-3-small", None),
    }
