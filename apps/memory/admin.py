from django.contrib import admin
from django.db import models
from django.template.defaultfilters import truncatechars

from apps.memory.models import EmbeddingSettings, Memory


@admin.register(Memory)
class MemoryAdmin(admin.ModelAdmin):
    list_display = ["memory_id", "space", "memory_type", "short_content", "created_at", "embedding_model"]
    list_filter = ["memory_type", "embedding_model", "space__kind", "created_at"]
    search_fields = ["content", "memory_id", "external_id", "agent_id", "space__name", "space__owner__email"]
    list_select_related = ["space"]
    raw_id_fields = ["space"]
    date_hierarchy = "created_at"
    exclude = ["embedding", "search"]  # derived columns, too large to show

    # Memories enter only through memory_create (typed columns, hash, search document and raw JSON
    # stay consistent); the admin views and deletes them.
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="content")
    def short_content(self, obj: Memory) -> str:
        return truncatechars(obj.content, 80)


@admin.register(EmbeddingSettings)
class EmbeddingSettingsAdmin(admin.ModelAdmin):
    list_display = ["space", "provider", "base_url", "model", "updated_at"]
    list_filter = ["provider"]
    search_fields = ["space__name", "space__owner__email", "model"]
    list_select_related = ["space"]
    raw_id_fields = ["space"]
    readonly_fields = ["created_at", "updated_at"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
