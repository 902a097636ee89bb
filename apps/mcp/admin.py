"""Admin for MCP sessions: who worked on which product, when, and what they left behind."""

from django.contrib import admin

from synchronex.admin_bounds import BoundedAdmin
from synchronex.admin_filters import top_values_filter
from synchronex.admin_redaction import RedactedAdmin

from .models import McpSession


@admin.register(McpSession)
class McpSessionAdmin(RedactedAdmin, BoundedAdmin, admin.ModelAdmin):
    list_redacted_fields = ("label", "agent_name", "product")  # pasted BYOK keys; a page redacts every field
    redacted_relations = ("product",)
    list_display = ("started_at", "product", "agent_name", "label", "space", "ended_at", "decisions_captured")
    list_filter = (
        top_values_filter("agent_name", "agent"),
        top_values_filter("client_type", "client"),
        ("ended_at", admin.EmptyFieldListFilter),
        "started_at",
    )
    search_fields = ("label", "agent_name", "summary", "product__name", "space__name", "user__email")
    list_select_related = ("product", "space")
    date_hierarchy = "started_at"
    dates_in_space_only = True  # BoundedAdmin: no DISTINCT over every session
    readonly_fields = (
        "id",
        "space",
        "product",
        "user",
        "actor",
        "started_at",
        "kernel_loaded_at",
        "ended_at",
        "decisions_captured",
        "created_at",
        "updated_at",
    )
    fields = (
        "id",
        "space",
        "product",
        "user",
        "actor",
        "agent_name",
        "client_type",
        "label",
        "session_url",
        "metadata",
        "started_at",
        "kernel_loaded_at",
        "ended_at",
        "ended_by",
        "summary",
        "decisions_captured",
        "created_at",
        "updated_at",
    )

    def has_add_permission(self, request) -> bool:
        # Sessions are opened by clients over MCP, where the product and credential are known.
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # Ending a session writes the product's handoff; an edit here would bypass that.
        return False
