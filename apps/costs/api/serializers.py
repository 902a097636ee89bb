"""Cost summary responses (SPEC §9). Money fields are exact decimals rendered as JSON numbers."""

from __future__ import annotations

from rest_framework import serializers


def _money(**kwargs) -> serializers.DecimalField:
    return serializers.DecimalField(max_digits=None, decimal_places=6, coerce_to_string=False, **kwargs)


def _figures() -> dict[str, serializers.Field]:
    """The metric fields every total and breakdown row carries (fresh instances per serializer)."""
    return {
        "cost_usd": _money(help_text="Sum of priced events in USD (≤ 6 decimals); unpriced events add nothing."),
        "input_tokens": serializers.IntegerField(),
        "output_tokens": serializers.IntegerField(),
        "requests": serializers.IntegerField(help_text="Events, priced or not."),
        "unpriced_requests": serializers.IntegerField(help_text="Events whose model has no known price."),
    }


def _row(name: str, doc: str, **keys: serializers.Field) -> type[serializers.Serializer]:
    # Built from a dict so that the row's keys come before its figures in every response.
    return type(name, (serializers.Serializer,), {**keys, **_figures(), "__doc__": doc})


ProductCostSerializer = _row(
    "ProductCostSerializer",
    "Spend of one product; product null: events without a product.",
    product=serializers.CharField(allow_null=True),
    product_id=serializers.UUIDField(allow_null=True),
)
ProviderCostSerializer = _row("ProviderCostSerializer", "Spend per provider.", provider=serializers.CharField())
ModelCostSerializer = _row(
    "ModelCostSerializer",
    "Spend per provider and model.",
    provider=serializers.CharField(),
    model=serializers.CharField(),
)
OperationCostSerializer = _row(
    "OperationCostSerializer",
    "Spend per operation (null: not given).",
    operation=serializers.CharField(allow_null=True),
)
DailyCostSerializer = _row("DailyCostSerializer", "Spend of one UTC calendar day.", date=serializers.DateField())


# "from" is a Python keyword, so this serializer is built from a dict of fields.
PeriodSerializer = type(
    "CostPeriodSerializer",
    (serializers.Serializer,),
    {
        "days": serializers.IntegerField(),
        "from": serializers.DateTimeField(help_text="Midnight UTC, days - 1 days before today."),
        "to": serializers.DateTimeField(
            help_text="Midnight UTC at the end of today, excluded: events dated later today count at once, "
            "events dated tomorrow once tomorrow is in the period."
        ),
        "__doc__": "The period a summary covers: the last `days` UTC calendar days, today included.",
    },
)


class CostSummarySerializer(serializers.Serializer):
    scope = serializers.CharField()
    period = PeriodSerializer()
    currency = serializers.ChoiceField(choices=["USD"], help_text="Always USD.")
    total_cost_usd = _money()
    input_tokens = serializers.IntegerField()
    output_tokens = serializers.IntegerField()
    requests = serializers.IntegerField()
    unpriced_requests = serializers.IntegerField()
    by_product = ProductCostSerializer(many=True)
    by_provider = ProviderCostSerializer(many=True)
    by_model = ModelCostSerializer(many=True)
    daily = DailyCostSerializer(many=True, help_text="Every day of the period, oldest first, zeros included.")


class ProductRefSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()


class ProductCostSummarySerializer(CostSummarySerializer):
    product = ProductRefSerializer()
    by_operation = OperationCostSerializer(many=True)
