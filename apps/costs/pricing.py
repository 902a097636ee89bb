"""Prices from the maintained ``genai-prices`` table; never a hand-written or guessed price."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from genai_prices import Usage, calc_price
from genai_prices.types import ModelPrice

from .models import COST_DECIMAL_PLACES

QUANTUM = Decimal(1).scaleb(-COST_DECIMAL_PLACES)  # 0.000001

# A self-hosted OpenAI-compatible server has no list price: its calls stay unpriced even
# though the table would match "openai" inside the name.
UNPRICEABLE_PROVIDERS = frozenset({"openai_compatible"})


def quantize_usd(value: Decimal) -> Decimal:
    """``value`` rounded half-up to the stored precision (6 decimal places)."""
    return value.quantize(QUANTUM, rounding=ROUND_HALF_UP)


def _prices_the_tokens(price: ModelPrice, *, input_tokens: int, output_tokens: int) -> bool:
    """Whether ``price`` has a price for every kind of token the call reported. ``calc_price``
    counts tokens of a kind the model has no price for at $0, so a model priced in other units
    (text to speech per character, transcription per audio hour) or for input tokens only
    (embeddings) would come out a priced $0: a guess. A model with no price in any unit is one the
    table lists as free (``:free`` variants, models included in a subscription): its $0 stands.
    Cache prices play no part: calls report no cached tokens, so input tokens take the input price."""
    if price == ModelPrice():
        return True
    kinds = {"input_mtok": input_tokens, "output_mtok": output_tokens}
    priced = {kind for kind in kinds if getattr(price, kind) is not None}
    return bool(priced) and all(kind in priced for kind, count in kinds.items() if count)


def price_usd(*, provider: str, model: str, input_tokens: int, output_tokens: int, at: datetime) -> Decimal | None:
    """The list price of a call in USD (6 decimals), or None when the table does not know the
    provider or the model, or has no price for the kinds of token reported (``_prices_the_tokens``).
    ``at`` selects the price in force when the call happened."""
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
    if not _prices_the_tokens(calculation.model_price, input_tokens=input_tokens, output_tokens=output_tokens):
        return None
    return quantize_usd(Decimal(calculation.total_price))
