from django.contrib import admin

from synchronex.admin_bounds import BoundedAdmin
from synchronex.admin_deletes import RetriedDeletesMixin
from synchronex.admin_redaction import RedactedAdmin

from .models import Signal
from .services import signals_delete


@admin.register(Signal)
class SignalAdmin(RetriedDeletesMixin, RedactedAdmin, BoundedAdmin, admin.ModelAdmin):
    """Signals, deleted through ``signals_delete``, which waits for a running consolidation of
    their products (``synchronex/admin_deletes.py``)."""

    # Pasted BYOK keys: the listed title (or body), every field of a page, its decision and product.
    list_redacted_fields = ("title", "body", "source", "product")
    redacted_relations = ("decision", "product")

    list_display = ("type", "short_title", "product", "space", "status", "occurred_at", "source")
    list_filter = ("type", "status", "occurred_at")
    search_fields = ("title", "body", "external_id", "product__name", "space__name")
    list_select_related = ("product", "space")
    date_hierarchy = "occurred_at"
    dates_in_space_only = True  # BoundedAdmin: no DISTINCT over every signal
    search_help_text = "Title, body, external id, product name or space name."
    fields = (
        "id",
        "type",
        "title",
        "body",
        "data",
        "product",
        "space",
        "status",
        "occurred_at",
        "received_at",
        "position",
        "applied_at",
        "source",
        "external_id",
        "decision",
    )
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False  # signals arrive over the ingest API, which validates them per type

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # an edited signal would no longer be what the tool sent

    def delete_model(self, request, obj):
        signals_delete(signals=Signal.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        signals_delete(signals=queryset)

    @admin.display(description="title")
    def short_title(self, obj: Signal) -> str:
        text = obj.title or obj.body
        return text if len(text) <= 80 else text[:79] + "…"
