"""Admin for product states, read-only: writes go through the API, which versions them (ETag)."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html, format_html_join

from apps.scopes.admin import overview_link
from synchronex.admin_bounds import BoundedAdmin
from synchronex.admin_redaction import RedactedAdmin
from synchronex.admin_rules import DeletedOnlyWithOwnerMixin

from .models import ProductState


def _items(values) -> str:
    if not values:
        return "—"
    return format_html("<ul>{}</ul>", format_html_join("", "<li>{}</li>", ((value,) for value in values)))


@admin.register(ProductState)
class ProductStateAdmin(RedactedAdmin, BoundedAdmin, DeletedOnlyWithOwnerMixin, admin.ModelAdmin):
    # A product's page redacts pasted BYOK keys from every field; the list shows no free text but
    # the name (the API takes any text there, so a key too; the MIF export redacts it as well).
    list_redacted_fields = ("name",)
    list_display = (
        "name",
        "space",
        "status",
        "works",
        "blocked",
        "questions",
        "version",
        "last_activity_at",
    )
    list_filter = ("status", "space__kind")
    search_fields = ("name", "space__name", "space__owner__email")
    search_help_text = "Product name, space name or owner email."
    list_select_related = ("space",)
    date_hierarchy = "last_activity_at"
    fields = (
        "name",
        "space",
        "overview",
        "status",
        "what_works_items",
        "what_is_blocked_items",
        "open_questions_items",
        "next_session_starts_here",
        "last_session_summary",
        "version",
        "created_at",
        "updated_at",
        "last_activity_at",
        "id",
        "origin_id",
    )
    readonly_fields = fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        # An edit here would skip the version bump that If-Match relies on.
        return False

    @admin.display(description="works")
    def works(self, obj: ProductState) -> int:
        return len(obj.what_works or [])

    @admin.display(description="blocked")
    def blocked(self, obj: ProductState) -> int:
        return len(obj.what_is_blocked or [])

    @admin.display(description="open questions")
    def questions(self, obj: ProductState) -> int:
        return len(obj.open_questions or [])

    @admin.display(description="memory")
    def overview(self, obj: ProductState):
        return overview_link(obj.space_id)

    @admin.display(description="what works")
    def what_works_items(self, obj: ProductState):
        return _items(obj.what_works)

    @admin.display(description="what is blocked")
    def what_is_blocked_items(self, obj: ProductState):
        return _items(obj.what_is_blocked)

    @admin.display(description="open questions")
    def open_questions_items(self, obj: ProductState):
        return _items(obj.open_questions)
