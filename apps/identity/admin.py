from django.contrib import admin
from django.utils.html import format_html

from apps.identity.models import Kernel, KernelRevision


class ReadOnlyAdmin(admin.ModelAdmin):
    """Kernels change only through the API, which validates, versions and records revisions."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Kernel)
class KernelAdmin(ReadOnlyAdmin):
    list_display = ["space", "version", "injection_tokens", "truncated", "updated_at"]
    list_filter = ["truncated", "space__kind"]
    search_fields = ["space__name", "space__owner__email"]
    list_select_related = ["space", "space__owner"]
    fields = [
        "space",
        "version",
        "updated_at",
        "identity",
        "products",
        "constraints",
        "model_preferences",
        "rendered_block",
        "injection_tokens",
        "truncated",
        "block_key",
    ]
    readonly_fields = fields

    @admin.display(description="Injection block")
    def rendered_block(self, obj):
        return format_html('<pre style="white-space: pre-wrap">{}</pre>', obj.injection_block)


@admin.register(KernelRevision)
class KernelRevisionAdmin(ReadOnlyAdmin):
    list_display = ["kernel", "version", "actor", "actor_user", "created_at"]
    search_fields = ["kernel__space__name", "actor", "actor_user__email"]
    list_select_related = ["kernel", "kernel__space", "actor_user"]
    fields = ["kernel", "version", "actor", "actor_user", "created_at", "snapshot"]
    readonly_fields = fields
