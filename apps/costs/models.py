"""AI cost events: one row per paid AI call, ingested or made by the service itself (SPEC §9)."""

from __future__ import annotations

import uuid

from django.db import models

from apps.products.models import ProductState
from apps.scopes.models import Space

COST_MAX_DIGITS = 16
COST_DECIMAL_PLACES = 6
PROVIDER_MAX = 100
MODEL_MAX = 200
OPERATION_MAX = 50


class CostEvent(models.Model):
    """The tokens and price of one AI call; ``cost_usd`` is null (and ``unpriced`` set) when unknown."""

    class Source(models.TextChoices):
        INGEST = "ingest", "Ingested ai_usage signal"
        SERVICE = "service", "The service's own call"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="cost_events")
    # Money spent stays on record when its product is deleted.
    product = models.ForeignKey(
        ProductState, on_delete=models.SET_NULL, null=True, blank=True, related_name="cost_events"
    )
    provider = models.CharField(max_length=PROVIDER_MAX)
    model = models.CharField(max_length=MODEL_MAX)
    operation = models.CharField(max_length=OPERATION_MAX, null=True, blank=True)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(
        max_digits=COST_MAX_DIGITS, decimal_places=COST_DECIMAL_PLACES, null=True, blank=True
    )
    # The price table does not know the model: never guessed, counted as unpriced.
    unpriced = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.INGEST)
    signal_id = models.CharField(max_length=64, null=True, blank=True)
    occurred_at = models.DateTimeField(db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-occurred_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(input_tokens__gte=0, output_tokens__gte=0), name="cost_tokens_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(cost_usd__isnull=True) | models.Q(cost_usd__gte=0), name="cost_usd_non_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(unpriced=True, cost_usd__isnull=True)
                | models.Q(unpriced=False, cost_usd__isnull=False),
                name="cost_unpriced_iff_no_cost",
            ),
            models.CheckConstraint(condition=models.Q(source__in=["ingest", "service"]), name="cost_source_valid"),
            models.CheckConstraint(condition=~models.Q(provider="") & ~models.Q(model=""), name="cost_names_not_empty"),
        ]
        indexes = [
            models.Index(fields=["space", "occurred_at"], name="cost_space_time"),
            models.Index(fields=["space", "product", "occurred_at"], name="cost_space_product_time"),
        ]

    def __str__(self) -> str:
        return f"{self.provider}/{self.model} {self.cost_usd if self.cost_usd is not None else 'unpriced'}"
