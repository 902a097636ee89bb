"""Admin for BYOK credentials, read-only: service, label and hint; the secret is neither shown nor editable."""

from django.contrib import admin

from synchronex.admin_bounds import BoundedAdmin
from synchronex.admin_rules import NoSecretLookupsMixin

from .models import ByokCredential


@admin.register(ByokCredential)
class ByokCredentialAdmin(BoundedAdmin, NoSecretLookupsMixin, admin.ModelAdmin):
    list_display = ("service", "label", "key_hint", "space", "created_at", "last_used_at")
    list_filter = ("service",)
    search_fields = ("label", "space__name")
    list_select_related = ("space",)
    date_hierarchy = "created_at"
    # ``secret`` and ``fingerprint`` are excluded everywhere: not rendered, not posted, not loaded.
    exclude = ("secret", "fingerprint")
    fields = ("id", "space", "service", "label", "base_url", "key_hint", "created_at", "last_used_at")
    # The label too: the API checks it (length, control characters, unique per service in any case).
    readonly_fields = fields

    def get_queryset(self, request):
        # The changelist and change page never need the ciphertext, so it is never decrypted here.
        return super().get_queryset(request).defer("secret")

    def has_add_permission(self, request) -> bool:
        # A key is added through the API, where its shape is checked and its fingerprint made.
        return False
