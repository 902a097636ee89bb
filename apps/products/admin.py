from django.contrib import admin

from .models import ProductState


@admin.register(ProductState)
class ProductStateAdmin(admin.ModelAdmin):
    list_display = ("name", "space", "status", "version", "last_activity_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("name", "space__name")
    list_select_related = ("space",)
    date_hierarchy = "last_activity_at"
    readonly_fields = ("id", "version", "created_at", "updated_at", "last_activity_at")
    raw_id_fields = ("space",)
