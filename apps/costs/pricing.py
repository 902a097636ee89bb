"""Prices from the maintained ``genai-prices`` table; never a hand-written or guessed price."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache

from genai_prices import Usage
from genai_prices.data_snapshot import DataSnapshot, get_snapshot
from genai_prices.types import ModelInfo, ModelPrice, Provider

from .models import COST_DECIMAL_PLACES

QUANTUM = Decimal(1).scaleb(-COST_DECIMAL_PLACES)  # 0.000001

# A self-hosted OpenAI-compatible server has no list price: its calls stay unpriced even
# though the table would match "openai" inside the name.
UNPRICEABLE_PROVIDERS = frozenset({"openai_compatible"})

# How many (provider, model) lookups each process keeps: far more than the names real calls use.
# Clients choose these names, so what is kept has to have a bound.
PRICE_LOOKUPS_KEPT = 1024


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


@lru_cache(maxsize=PRICE_LOOKUPS_KEPT)
def _price_model(provider: str, model: str) -> tuple[Provider, ModelInfo] | None:
    """The table's provider and model for these names, or None when it does not know them.
    ``calc_price`` looks them up on the library's one shared snapshot, which keeps every name it is
    asked about, found or not, for good: each new name a client sent grew every process. A
    snapshot made for this lookup alone has the same table and matching rules, and its caches go
    with it; the bounded ``lru_cache`` above is all that is kept. (The table is the bundled one,
    the same for the life of the process: nothing here runs the library's ``UpdatePrices``.)"""
    snapshot = DataSnapshot(providers=get_snapshot().providers, from_auto_update=False)
    try:
        return snapshot.find_provider_model(model, None, provider, None)
    except LookupError:
        return None


def price_usd(*, provider: str, model: str, input_tokens: int, output_tokens: int, at: datetime) -> Decimal | None:
    """The list price of a call in USD (6 decimals), or None when the table does not know the
    provider or the model, or has no price for the kinds of token reported (``_prices_the_tokens``).
    ``at`` selects the price in force when the call happened."""
    if provider.lower() in UNPRICEABLE_PROVIDERS:
        return None
    found = _price_model(provider, model)
    if found is None:
        return None
    table_provider, table_model = found
    calculation = table_model.calc_price(
        Usage(input_tokens=input_tokens, output_tokens=output_tokens), table_provider, genai_request_timestamp=at
    )
    if not _prices_the_tokens(calculation.model_price, input_tokens=input_tokens, output_tokens=output_tokens):
        return None
    return quantize_usd(Decimal(calculation.total_price))
