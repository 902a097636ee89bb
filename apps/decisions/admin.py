"""Admin for the Decision Index: search, filters by product, tag, date and state; read-only.

Decisions are written through the API (limits, supersession, embeddings); the admin finds,
shows and deletes them.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, F, Func
from django.template.defaultfilters import truncatechars

from apps.scopes.admin import overview_link

from .models import Decision

FILTER_CHOICES = 30


class TagFilter(admin.SimpleListFilter):
    """Filter by one of the most used tags."""

    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        tags = (
            Decision.objects.annotate(tag=Func(F("tags"), function="unnest"))
            .values("tag")
            .annotate(n=Count("id"))
            .order_by("-n", "tag")[:FILTER_CHOICES]
        )
        return [(row["tag"], f"{row['tag']} ({row['n']})") for row in tags]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(tags__contains=[self.value()])
        return queryset


class ProductNameFilter(admin.SimpleListFilter):
    """Filter by product name (case-insensitive, across spaces; add ``space`` to narrow)."""

    title = "product"
    parameter_name = "product_name"

    def lookups(self, request, model_admin):
        names = (
            Decision.objects.values(name=F("product__name"))
            .annotate(n=Count("id"))
            .order_by("-n", "name")[:FILTER_CHOICES]
        )
        return [(row["name"], f"{row['name']} ({row['n']})") for row in names]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(product__name__iexact=self.value())
        return queryset


class CurrentFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("current", "Current"), ("superseded", "Superseded")]

    def queryset(self, request, queryset):
        if self.value() == "current":
            return queryset.filter(superseded_by__isnull=True)
        if self.value() == "superseded":
            return queryset.filter(superseded_by__isnull=False)
        return queryset


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ("short_decision", "product", "space", "tag_list", "decided_at", "source", "current")
    list_filter = (ProductNameFilter, TagFilter, "decided_at", CurrentFilter, "source", "space__kind")
    search_fields = ("decision", "reasoning", "product__name")
    search_help_text = "Words of the decision or its reasoning, or a product name."
    list_select_related = ("product", "space")
    date_hierarchy = "decided_at"
    fields = (
        "decision",
        "product",
        "space",
        "overview",
        "reasoning",
        "tags",
        "affects_products",
        "alternatives",
        "supersedes",
        "superseded_by",
        "decided_at",
        "created_at",
        "source",
        "embedding_model",
        "embedding_dimensions",
        "id",
        "origin_id",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        # The vector is never shown; loading it for every row would only cost memory.
        return super().get_queryset(request).defer("embedding", "search_document")

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="decision", ordering="decision")
    def short_decision(self, obj: Decision) -> str:
        return truncatechars(obj.decision, 80)

    @admin.display(description="tags")
    def tag_list(self, obj: Decision) -> str:
        return ", ".join(obj.tags)

    @admin.display(boolean=True, description="current")
    def current(self, obj: Decision) -> bool:
        return obj.superseded_by_id is None

    @admin.display(description="memory")
    def overview(self, obj: Decision):
        return overview_link(obj.space_id)
