from django.contrib import admin

from .models import Signal


@admin.register(Signal)
class SignalAdmin(admin.ModelAdmin):
    list_display = ("type", "short_title", "product", "space", "status", "occurred_at", "source")
    list_filter = ("type", "status", "occurred_at")
    search_fields = ("title", "body", "external_id", "product__name", "space__name")
    list_select_related = ("product", "space")
    date_hierarchy = "occurred_at"
    raw_id_fields = ("space", "product", "decision")
    readonly_fields = ("id", "received_at", "position", "applied_at")

    @admin.display(description="title")
    def short_title(self, obj: Signal) -> str:
        text = obj.title or obj.body
        return text if len(text) <= 80 else text[:79] + "…"
