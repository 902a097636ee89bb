"""Admin for cost events: read-only records, browsable by date, with totals of what is shown."""

from decimal import Decimal

from django.contrib import admin
from django.db.models import Count, DecimalField, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from synchronex.admin_bounds import BoundedAdmin
from synchronex.admin_filters import top_values_filter
from synchronex.admin_redaction import RedactedAdmin
from synchronex.admin_rules import DeletedOnlyWithOwnerMixin

from .models import CostEvent
from .selectors import DAYS_DEFAULT, period_bounds


class CostPeriodFilter(admin.DateFieldListFilter):
    """Django's date filter with the API's periods: "Past N days" is what ``GET /ai/costs?days=N``
    totals (``period_bounds``: today and the N - 1 UTC days before it). Django's own "Past 7 days"
    starts 7 days before today, 8 days in all, so its total was not the API's. Today, this month
    and this year are Django's, already the API's UTC days (``TIME_ZONE`` is UTC)."""

    past_days = (7, DAYS_DEFAULT)

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        now = timezone.now()
        past = []
        for days in self.past_days:
            start, end = period_bounds(days=days, now=now)
            past.append((f"Past {days} days", {self.lookup_kwarg_since: start, self.lookup_kwarg_until: end}))
        any_date, today, _past_8_days, *calendar = self.links  # Django's order; "Past 7 days" third
        self.links = (any_date, today, *past, *calendar)


@admin.register(CostEvent)
class CostEventAdmin(RedactedAdmin, BoundedAdmin, DeletedOnlyWithOwnerMixin, admin.ModelAdmin):
    # Not deleted on their own either: a record of money spent goes only with its space.
    # Pasted BYOK keys: provider, model and operation are an ai_usage signal's free text.
    list_redacted_fields = ("provider", "model", "operation", "product")
    redacted_relations = ("product",)
    list_display = (
        "occurred_at",
        "space",
        "product",
        "provider",
        "model",
        "operation",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "unpriced",
        "source",
    )
    list_filter = (("occurred_at", CostPeriodFilter), "source", "unpriced", top_values_filter("provider"))
    search_fields = ("provider", "model", "operation", "space__name", "product__name", "signal_id")
    list_select_related = ("space", "product")
    date_hierarchy = "occurred_at"
    dates_in_space_only = True  # BoundedAdmin: no DISTINCT over every event
    ordering = ("-occurred_at",)

    def has_add_permission(self, request) -> bool:
        return False  # events come from ingest and the service's own calls, never typed in

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a record of money spent is not edited

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl") if hasattr(response, "context_data") else None
        if changelist is not None:
            # Totals of every event matching the current filters and date, not just this page.
            response.context_data["cost_totals"] = changelist.queryset.order_by().aggregate(
                cost_usd=Coalesce(Sum("cost_usd"), Value(Decimal(0)), output_field=DecimalField()),
                input_tokens=Coalesce(Sum("input_tokens"), 0),
                output_tokens=Coalesce(Sum("output_tokens"), 0),
                requests=Count("id"),
                unpriced_requests=Count("id", filter=Q(unpriced=True)),
            )
        return response
