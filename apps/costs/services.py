"""Recording AI cost events (SPEC §9): from ingested ``ai_usage`` signals and the service's own calls."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone

from apps.products.models import ProductState
from apps.products.names import has_control_character
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.api.parsers import exact_decimal

from .models import COST_DECIMAL_PLACES, COST_MAX_DIGITS, MODEL_MAX, OPERATION_MAX, PROVIDER_MAX, CostEvent
from .pricing import price_usd, quantize_usd

TOKENS_MAX = 10**12  # far above any real call; keeps sums far inside bigint
COST_MAX = Decimal(10) ** (COST_MAX_DIGITS - COST_DECIMAL_PLACES) - Decimal(1).scaleb(-COST_DECIMAL_PLACES)


def _name(value, field: str, max_length: int, problems: dict, *, required: bool, lower: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        if required or isinstance(value, str):
            problems[field] = f"{field} must be a non-empty string."
        else:
            problems[field] = f"{field} must be a string."
        return None
    value = value.strip()
    if lower:
        # Before the length check: the lowered text is what is stored, and str.lower() may lengthen
        # it ('İ' becomes 'i' + U+0307), so checking the text sent let a 60-character provider
        # reach a 100-character column as 120 (a DataError, answered 500).
        value = value.lower()
    if len(value) > max_length:
        problems[field] = f"{field} has at most {max_length} characters{' once lower-cased' if lower else ''}."
    elif has_control_character(value):
        problems[field] = f"{field} may not contain control characters."
    return value


def _tokens(value, field: str, problems: dict) -> int:
    # bool is an int in Python; a JSON true is not a token count.
    if isinstance(value, bool) or not isinstance(value, int):
        problems[field] = f"{field} must be an integer."
        return 0
    if not 0 <= value <= TOKENS_MAX:
        problems[field] = f"{field} must be between 0 and {TOKENS_MAX}."
    return value


def _cost(value, problems: dict) -> Decimal | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        problems["cost_usd"] = "cost_usd must be a number."
        return None
    try:
        # A parsed JSON number's digits as sent; another float its shortest spelling, not its binary expansion.
        amount = exact_decimal(value) if not isinstance(value, Decimal) else value
    except InvalidOperation:
        problems["cost_usd"] = "cost_usd must be a number."
        return None
    if not amount.is_finite() or amount < 0 or amount > COST_MAX:
        problems["cost_usd"] = f"cost_usd must be between 0 and {COST_MAX}."
        return None
    return quantize_usd(amount)


@transaction.atomic
def cost_event_record(**fields) -> CostEvent:
    """Store one AI call's usage and price: the event ``cost_event_build`` makes of ``fields``."""
    event = cost_event_build(**fields)
    event.save(force_insert=True)
    return event


def cost_event_build(
    *,
    space: Space,
    provider: str,
    model: str,
    input_tokens: int,
    output_tokens: int,
    cost_usd: Decimal | int | float | str | None = None,
    operation: str | None = None,
    product: ProductState | None = None,
    occurred_at: datetime | None = None,
    source: str = "ingest",
    signal_id: str | None = None,
) -> CostEvent:
    """One AI call's usage and price, checked and priced, as an unsaved event (ingest stores a
    batch's together with ``bulk_create``; ``cost_event_record`` stores one).

    ``cost_usd`` given: kept exactly (rounded half-up to 6 decimals). Absent: computed from the
    ``genai-prices`` table at the price in force at ``occurred_at``; a provider or model the
    table does not know is stored with ``cost_usd`` null and ``unpriced`` true, never guessed.
    ``provider`` is stored lower-cased (it is an identifier), and its length is counted so;
    ``model`` and ``operation`` as given, trimmed. Bad values raise VALIDATION_ERROR naming the field.
    """
    problems: dict[str, str] = {}
    provider = _name(provider, "provider", PROVIDER_MAX, problems, required=True, lower=True)
    model = _name(model, "model", MODEL_MAX, problems, required=True)
    operation = _name(operation, "operation", OPERATION_MAX, problems, required=False)
    input_tokens = _tokens(input_tokens, "input_tokens", problems)
    output_tokens = _tokens(output_tokens, "output_tokens", problems)
    amount = _cost(cost_usd, problems)
    if source not in CostEvent.Source.values:
        problems["source"] = f"source must be one of {', '.join(CostEvent.Source.values)}."
    if product is not None and product.space_id != space.pk:
        problems["product"] = "The product belongs to another scope."
    if occurred_at is not None and timezone.is_naive(occurred_at):
        problems["occurred_at"] = "occurred_at must carry a time zone."
    if signal_id is not None:
        signal_id = str(signal_id)
        if len(signal_id) > 64:
            problems["signal_id"] = "signal_id has at most 64 characters."
    if problems:
        raise errors.ValidationFailed.for_fields(problems)

    occurred_at = occurred_at or timezone.now()
    if amount is None:
        amount = price_usd(
            provider=provider, model=model, input_tokens=input_tokens, output_tokens=output_tokens, at=occurred_at
        )
    return CostEvent(
        space=space,
        product=product,
        provider=provider,
        model=model,
        operation=operation,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=amount,
        unpriced=amount is None,
        source=source,
        signal_id=signal_id,
        occurred_at=occurred_at,
    )
