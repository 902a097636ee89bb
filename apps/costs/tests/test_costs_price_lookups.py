"""Pricing keeps a bounded number of name lookups per process: clients choose provider and model
names, and each new one used to stay in the price library's caches for good."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from genai_prices.data_snapshot import get_snapshot

from apps.costs import pricing
from apps.costs.pricing import price_usd

AT = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
NAMES = 3000  # well past what the lookup cache keeps


def _library_cache_sizes() -> tuple[int, int, int]:
    snapshot = get_snapshot()
    return len(snapshot._lookup_cache), len(snapshot._provider_cache), len(snapshot._provider_misses)


def test_pricing_many_distinct_names_keeps_a_bounded_number_of_lookups():
    price_usd(provider="openai", model="gpt-4o", input_tokens=1000, output_tokens=500, at=AT)
    before = _library_cache_sizes()
    for i in range(NAMES):
        # Unknown models of a known provider, unknown providers, and names the table matches by prefix.
        assert price_usd(provider="openai", model=f"m{i}", input_tokens=1, output_tokens=1, at=AT) is None
        assert price_usd(provider=f"acme{i}", model="x", input_tokens=1, output_tokens=1, at=AT) is None
        price = price_usd(provider="anthropic", model=f"claude-sonnet-4-5-{i}", input_tokens=1, output_tokens=1, at=AT)
        assert price == Decimal("0.000018")  # $3 and $15 per million

    assert _library_cache_sizes() == before
    kept = pricing._price_model.cache_info()
    assert kept.maxsize == pricing.PRICE_LOOKUPS_KEPT and kept.currsize <= kept.maxsize
    # A name pushed out of the cache is looked up again and priced as before.
    price = price_usd(provider="openai", model="gpt-4o", input_tokens=1000, output_tokens=500, at=AT)
    assert price == Decimal("0.007500")
