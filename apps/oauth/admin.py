from django.contrib import admin

from apps.oauth.models import AppUsage


@admin.register(AppUsage)
class AppUsageAdmin(admin.ModelAdmin):
    list_display = ["application", "user", "last_used_at"]
    list_select_related = ["application", "user"]
    search_fields = ["application__name", "application__client_id", "user__email"]
    readonly_fields = ["user", "application", "last_used_at", "created_at"]
