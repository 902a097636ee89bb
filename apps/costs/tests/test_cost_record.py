"""cost_event_record: prices from genai-prices, unknown models never guessed, exact money, strict input."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from apps.costs.models import CostEvent
from apps.costs.services import cost_event_record
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal
from synchronex.api import errors

pytestmark = pytest.mark.django_db

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def record(space, **fields) -> CostEvent:
    values = {"provider": "openai", "model": "gpt-4o", "input_tokens": 1000, "output_tokens": 500, "occurred_at": AT}
    return cost_event_record(space=space, **{**values, **fields})


@pytest.mark.parametrize(
    ("provider", "model", "input_tokens", "output_tokens", "expected"),
    [
        # gpt-4o: $2.50 per million input tokens, $10 per million output tokens.
        ("openai", "gpt-4o", 1000, 500, "0.007500"),
        # claude-sonnet-4-5: $3 / $15 per million.
        ("anthropic", "claude-sonnet-4-5", 1000, 500, "0.010500"),
        # gpt-4o-mini: $0.15 / $0.60 per million.
        ("openai", "gpt-4o-mini", 1000, 500, "0.000450"),
        # text-embedding-3-small: $0.02 per million input tokens.
        ("openai", "text-embedding-3-small", 100_000, 0, "0.002000"),
        # grok-4 (the table's x-ai provider): $3 / $15 per million.
        ("xai", "grok-4", 1000, 500, "0.010500"),
        # Provider names are identifiers: matched and stored lower-cased.
        ("OpenAI", "gpt-4o", 1000, 500, "0.007500"),
        ("openai", "gpt-4o", 0, 0, "0.000000"),
    ],
)
def test_a_missing_cost_is_computed_from_the_price_table(space, provider, model, input_tokens, output_tokens, expected):
    event = record(space, provider=provider, model=model, input_tokens=input_tokens, output_tokens=output_tokens)
    event.refresh_from_db()
    assert event.cost_usd == Decimal(expected)
    assert event.unpriced is False
    assert event.provider == provider.lower()


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        ("openai", "gpt-imaginary-9"),  # unknown model of a known provider
        ("acme-llm", "gpt-4o"),  # unknown provider: its own model of that name may cost anything
        ("openai_compatible", "gpt-4o"),  # a self-hosted server has no list price
    ],
)
def test_an_unknown_model_stays_unpriced_and_flagged(space, provider, model):
    event = record(space, provider=provider, model=model)
    event.refresh_from_db()
    assert event.cost_usd is None and event.unpriced is True
    assert event.input_tokens == 1000 and event.output_tokens == 500


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        (Decimal("1.234567"), "1.234567"),
        ("0.5", "0.500000"),
        (0.1, "0.100000"),  # a float keeps its decimal spelling, not 0.1000000000000000055…
        (3, "3.000000"),
        (Decimal("0.0000005"), "0.000001"),  # rounded half-up to 6 decimals
        (Decimal("0.00000049"), "0.000000"),
        (0, "0.000000"),
    ],
)
def test_a_given_cost_is_kept_exactly(space, given, stored):
    event = record(space, model="gpt-imaginary-9", cost_usd=given)
    event.refresh_from_db()
    assert event.cost_usd == Decimal(stored) and event.unpriced is False


def test_every_field_is_stored(space, user):
    product = product_ensure(space=space, name="Atlas")
    event = record(
        space,
        product=product,
        operation=" chat ",
        source="ingest",
        signal_id="sig-1",
        model=" gpt-4o ",
    )
    event.refresh_from_db()
    assert (event.space, event.product, event.operation, event.source, event.signal_id) == (
        space,
        product,
        "chat",
        "ingest",
        "sig-1",
    )
    assert event.model == "gpt-4o" and event.occurred_at == AT and event.created_at is not None


def test_occurred_at_defaults_to_now(space):
    before = datetime.now(UTC)
    event = record(space, occurred_at=None)
    assert before <= event.occurred_at <= datetime.now(UTC)


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"provider": ""}, "provider"),
        ({"provider": None}, "provider"),
        ({"provider": "x" * 101}, "provider"),
        ({"model": "  "}, "model"),
        ({"model": 5}, "model"),
        ({"model": "a\nb"}, "model"),
        ({"operation": ""}, "operation"),
        ({"operation": "x" * 51}, "operation"),
        ({"input_tokens": -1}, "input_tokens"),
        ({"output_tokens": 1.5}, "output_tokens"),
        ({"input_tokens": True}, "input_tokens"),
        ({"input_tokens": "10"}, "input_tokens"),
        ({"input_tokens": 10**13}, "input_tokens"),
        ({"cost_usd": -0.01}, "cost_usd"),
        ({"cost_usd": "abc"}, "cost_usd"),
        ({"cost_usd": "NaN"}, "cost_usd"),
        ({"cost_usd": "1_000"}, "cost_usd"),  # Decimal() alone reads it as 1000
        ({"cost_usd": "١٢"}, "cost_usd"),  # and Arabic-Indic digits as 12
        ({"cost_usd": float("inf")}, "cost_usd"),
        ({"cost_usd": True}, "cost_usd"),
        ({"cost_usd": Decimal("1e12")}, "cost_usd"),
        ({"source": "other"}, "source"),
        ({"occurred_at": datetime(2026, 1, 1)}, "occurred_at"),
        ({"signal_id": "x" * 65}, "signal_id"),
    ],
)
def test_bad_values_are_validation_errors_naming_the_field(space, fields, bad):
    with pytest.raises(errors.ValidationFailed) as caught:
        record(space, **fields)
    assert list(caught.value.details["fields"]) == [bad]
    assert CostEvent.objects.count() == 0


def test_a_product_of_another_space_is_refused(space, make_user):
    other = space_ensure_personal(user=make_user())
    with pytest.raises(errors.ValidationFailed) as caught:
        record(space, product=product_ensure(space=other, name="Theirs"))
    assert list(caught.value.details["fields"]) == ["product"]
