from django.contrib import admin
from django.db.models import Count, F, Func

from .models import Decision


class TagFilter(admin.SimpleListFilter):
    """Filter by one of the 30 most used tags."""

    title = "tag"
    parameter_name = "tag"

    def lookups(self, request, model_admin):
        tags = (
            Decision.objects.annotate(tag=Func(F("tags"), function="unnest"))
            .values("tag")
            .annotate(n=Count("id"))
            .order_by("-n", "tag")[:30]
        )
        return [(row["tag"], f"{row['tag']} ({row['n']})") for row in tags]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(tags__contains=[self.value()])
        return queryset


@admin.register(Decision)
class DecisionAdmin(admin.ModelAdmin):
    list_display = ("short_decision", "product", "space", "decided_at", "source", "superseded")
    list_filter = (("product", admin.RelatedOnlyFieldListFilter), TagFilter, "source", "decided_at")
    search_fields = ("decision", "reasoning", "product__name")
    list_select_related = ("product", "space")
    date_hierarchy = "decided_at"
    raw_id_fields = ("space", "product", "supersedes")
    # The vector and the generated search columns are maintained elsewhere; never edited by hand.
    exclude = ("embedding",)
    readonly_fields = ("id", "created_at", "superseded_by", "embedding_model", "embedding_dimensions")

    @admin.display(description="decision")
    def short_decision(self, obj: Decision) -> str:
        return obj.decision if len(obj.decision) <= 80 else obj.decision[:79] + "…"

    @admin.display(boolean=True, description="superseded")
    def superseded(self, obj: Decision) -> bool:
        return obj.superseded_by_id is not None
