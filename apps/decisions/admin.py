"""Admin for the Decision Index: search, filters by product, tag, date and state; read-only.

Decisions are written through the API (limits, supersession, embeddings); the admin finds,
shows and deletes them, through ``decisions_delete`` (``synchronex/admin_deletes.py``).
"""

from __future__ import annotations

from collections import Counter

from django.contrib import admin
from django.contrib.postgres.search import SearchQuery
from django.db.models import Count, F, Func, Q, Subquery, Value
from django.template.defaultfilters import truncatechars

from apps.products.models import ProductState
from apps.scopes.admin import overview_link
from synchronex.admin_bounds import BoundedAdmin
from synchronex.admin_deletes import RetriedDeletesMixin
from synchronex.admin_filters import (
    CHOICES,
    SAMPLE_ROWS,
    ILike,
    InArray,
    TopValuesFilter,
    contains_pattern,
    listed_space,
    search_terms,
    top_values_filter,
)
from synchronex.admin_redaction import RedactedAdmin

from .models import SEARCH_CONFIG, Decision
from .services import decisions_delete


class TagFilter(TopValuesFilter):
    """Filter by one of the most used tags (of the listed space, or of a sample)."""

    title = "tag"
    parameter_name = "tag"

    def counted(self, rows):
        return (
            rows.annotate(tag=Func(F("tags"), function="unnest"))
            .values_list("tag")
            .annotate(count=Count("pk"))
            .order_by("-count", "tag")[:CHOICES]
        )

    def sampled(self, rows):
        return [(space, tag) for space, tags in rows.values_list("space_id", "tags")[:SAMPLE_ROWS] for tag in tags]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(tags__contains=[self.value()])
        return queryset


class ProductNameFilter(TopValuesFilter):
    """Filter by product name (case-insensitive, across spaces; add ``space`` to narrow)."""

    title = "product"
    parameter_name = "product_name"

    def counted(self, rows):
        counted = rows.values_list("product__name").annotate(count=Count("pk"))
        return counted.order_by("-count", "product__name")[:CHOICES]

    def sampled(self, rows):
        # Product ids of the sample, then their names by primary key: no join over every product.
        ids = Counter(rows.values_list("space_id", "product_id")[:SAMPLE_ROWS])
        products = [product_id for _, product_id in ids]
        names = dict(ProductState.objects.filter(pk__in=products).values_list("pk", "name")) if ids else {}
        counted = Counter()
        for (space_id, product_id), count in ids.items():
            counted[space_id, names.get(product_id, "")] += count
        return counted.elements()

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
class DecisionAdmin(RetriedDeletesMixin, RedactedAdmin, BoundedAdmin, admin.ModelAdmin):
    # Pasted BYOK keys: the listed text and tags, every field of a page, the decisions it names.
    list_redacted_fields = ("decision", "tags", "source", "product")
    redacted_relations = ("supersedes", "superseded_by", "product")
    list_display = ("short_decision", "product", "space", "tag_list", "decided_at", "source", "current")
    list_filter = (
        ProductNameFilter,
        TagFilter,
        "decided_at",
        CurrentFilter,
        top_values_filter("source"),
        "space__kind",
    )
    search_fields = ("decision", "reasoning", "product__name")  # shows the box; see get_search_results
    search_help_text = "Part of the decision, words of its reasoning or tags, or part of a product name."
    list_select_related = ("product", "space")
    date_hierarchy = "decided_at"
    dates_in_space_only = True  # BoundedAdmin: no DISTINCT over every decision
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

    def get_search_results(self, request, queryset, search_term):
        """Every word must match: part of the decision (``ILIKE``, its trigram index), a word of
        the decision, its tags or reasoning (``@@``, the full-text index), or part of a product's
        name. Django's search compares ``UPPER(column) LIKE``, which no index serves: it read
        every decision of every space."""
        space_id = listed_space(request)
        for term in search_terms(search_term):
            pattern = Value(contains_pattern(term))
            products = ProductState.objects.filter(ILike(F("name"), pattern))
            if space_id is not None:
                products = products.filter(space_id=space_id)
            queryset = queryset.filter(
                Q(ILike(F("decision"), pattern))
                | Q(search_document=SearchQuery(term, config=SEARCH_CONFIG, search_type="plain"))
                | Q(InArray(F("product_id"), Subquery(products.values("pk"))))
            )
        return queryset, False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def delete_model(self, request, obj):
        decisions_delete(decisions=Decision.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        decisions_delete(decisions=queryset)

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
