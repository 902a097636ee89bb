"""Prices from the maintained ``genai-prices`` table; never a hand-written or guessed price."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from genai_prices import Usage, calc_price

from .models import COST_DECIMAL_PLACES

QUANTUM = Decimal(1).scaleb(-COST_DECIMAL_PLACES)  # 0.000001

# A self-hosted OpenAI-compatible server has no list price: its calls stay unpriced even
# though the table would match "openai" inside the name.
UNPRICEABLE_PROVIDERS = frozenset({"openai_compatible"})


def quantize_usd(value: Decimal) -> Decimal:
    """``value`` rounded half-up to the stored precision (6 decimal places)."""
    return value.quantize(QUANTUM, rounding=ROUND_HALF_UP)


def price_usd(*, provider: str, model: str, input_tokens: int, output_tokens: int, at: datetime) -> Decimal | None:
    """The list price of a call in USD (6 decimals), or None when the table does not know the
    provider or the model. ``at`` selects the price in force when the call happened."""
    if provider.lower() in UNPRICEABLE_PROVIDERS:
        return None
    try:
        calculation = calc_price(
            Usage(input_tokens=input_tokens, output_tokens=output_tokens),
            model,
            provider_id=provider,
            genai_request_timestamp=at,
        )
    except LookupError:
        return None
    return quantize_usd(Decimal(calculation.total_price))
