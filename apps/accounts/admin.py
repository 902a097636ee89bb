"""Admin for users (plan, limits, today's usage) and API keys (never the digest), and the site itself."""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.decorators import login_not_required
from django.contrib.auth.models import Group
from django.db.models import Count, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from apps.accounts.forms import ApiKeyAdminForm, UserAdminChangeForm, UserAdminCreationForm
from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_keys_revoke, users_delete
from apps.accounts.views import throttled_page
from apps.scopes.services import space_rename_personal
from synchronex.admin_bounds import BoundedAdmin
from synchronex.admin_deletes import RetriedDeletesMixin
from synchronex.admin_rules import NoSecretLookupsMixin
from synchronex.admin_site import install as install_site_views
from synchronex.api.ratelimit import ip_throttled, limits_for, usage_today_many

admin.site.site_header = "Synchronex admin"
admin.site.site_title = "Synchronex admin"
admin.site.index_title = "Memory, accounts and credentials"
admin.site.site_url = "/settings/keys"


def _login_throttled(view):
    """``view`` with the login form's per-IP budget on its POSTs."""

    def throttled(request, extra_context=None):
        if request.method == "POST":
            wait = ip_throttled(request, group="login", rate=settings.LOGIN_RATE)
            if wait is not None:
                return throttled_page(request, wait)
        return view(request, extra_context)

    return throttled


# The admin's own login form takes credentials too. Its password change form checks the current
# password: without the budget, anyone holding a staff session (a borrowed laptop, a stolen
# cookie) could guess it without limit.
admin.site.login = login_not_required(_login_throttled(admin.site.login))
admin.site.password_change = _login_throttled(admin.site.password_change)
# Autocomplete answers and "View on site" under the model pages' rules (synchronex/admin_site.py).
install_site_views(admin.site)


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(BoundedAdmin, BaseGroupAdmin):
    """Django's group admin with what every admin here shares (``?name__regex=(`` answered 500).

    Groups are rights: adding, changing or deleting one is for superusers only, as rights are on
    the user page (``RIGHTS``). Otherwise ``change_group`` alone would let a staff member add any
    permission to their own group (``change_user``, then set a customer's password). Other staff
    allowed to view groups see them read-only.
    """

    def has_add_permission(self, request):
        return request.user.is_superuser

    def has_change_permission(self, request, obj=None):
        return request.user.is_superuser

    def has_delete_permission(self, request, obj=None):
        return request.user.is_superuser


# What a staff member allowed to change users could otherwise give themselves or another account.
RIGHTS = ["is_staff", "is_superuser", "groups", "user_permissions"]


@admin.register(User)
class UserAdmin(RetriedDeletesMixin, BoundedAdmin, NoSecretLookupsMixin, BaseUserAdmin):
    """Users; rights (staff, superuser, groups, permissions) are granted by superusers only.

    Staff allowed to change users see those fields read-only, and cannot change (nor set the
    password of, nor delete) a superuser's account or another staff member's: otherwise
    ``change_user`` alone would be enough to make oneself superuser, or to take over an account
    with more rights. Their own account stays theirs to edit (rights aside).

    A user is deleted with their spaces' memory through ``users_delete``, which waits for a
    running consolidation of those spaces (``synchronex/admin_deletes.py``). An account that wrote
    admin history is not: Django deletes a user's log entries with the user, and they are the
    audit trail (who revoked which key, changed which user). Its delete page lists that history
    as protected, which Django's delete page and *Delete selected* honour; deactivate it instead.
    """

    # The accounts' address rule (any script, stored NFC and lower case), not Django's EmailField's.
    form = UserAdminChangeForm
    add_form = UserAdminCreationForm
    ordering = ["email"]
    list_display = [
        "email",
        "name",
        "tier",
        "limits",
        "usage_today",
        "is_staff",
        "is_active",
        "last_login",
        "date_joined",
    ]
    list_filter = ["tier", "is_staff", "is_superuser", "is_active"]
    search_fields = ["email", "name"]
    search_help_text = "Email or name."
    date_hierarchy = "date_joined"
    readonly_fields = ["limits", "usage_today", "last_login", "date_joined", "memory_links"]
    fieldsets = [
        (None, {"fields": ["email", "password"]}),
        ("Profile", {"fields": ["name"]}),
        (
            "Plan",
            {
                "fields": ["tier", "daily_limit", "minute_limit", "limits", "usage_today"],
                "description": "Daily and per-minute limits apply to enterprise accounts only; "
                "the other tiers use the plan's limits. Empty: the enterprise default (200,000 / 3,000); "
                "0: no requests at all.",
            },
        ),
        ("Memory", {"fields": ["memory_links"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "tier", "password1", "password2"]})]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields if request.user.is_superuser else fields + RIGHTS

    @staticmethod
    def _beyond_reach(request, obj) -> bool:
        """A superuser's account, or another staff member's, seen by a staff member who is not superuser."""
        if obj is None or request.user.is_superuser:
            return False
        return obj.is_superuser or (obj.is_staff and obj.pk != request.user.pk)

    def has_change_permission(self, request, obj=None):
        # Also guards the password form (``user_change_password`` asks this question).
        if self._beyond_reach(request, obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if self._beyond_reach(request, obj):
            return False
        return super().has_delete_permission(request, obj)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if change and "email" in form.changed_data:
            space_rename_personal(user=obj)  # in the page's transaction

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        users = [obj.pk for obj in objs] if isinstance(objs, list | tuple) else objs.values("pk")
        written = (
            LogEntry.objects.filter(user__in=users)
            .values_list("user__email")
            .annotate(entries=Count("pk"))
            .order_by("user__email")
        )
        protected = list(protected) + [
            f"Admin history written by {email}: {entries:,} {'entry' if entries == 1 else 'entries'}, the audit "
            "trail, which deleting the account would delete. Deactivate the account instead (untick Active)."
            for email, entries in written
        ]
        # One's own account, even without history yet: the delete writes its own entry under the
        # deleting account before it deletes (``log_deletions``), which the delete would then take
        # along; ``users_delete`` refuses it, and the page answered that refusal as a 500.
        own = request.user.pk in users if isinstance(users, list) else users.filter(pk=request.user.pk).exists()
        if own:
            protected.append(
                f"Your own account ({request.user.email}): its delete would be written in the admin's history "
                "under your name, and that entry deleted with it. Another administrator can delete it, or "
                "deactivate it."
            )
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request, obj):
        users_delete(users=User.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        users_delete(users=queryset)

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        # Today's counters of the whole page in one cache round trip, not one per row.
        users = list(changelist.result_list)
        usage = usage_today_many(users)
        for user in users:
            user.usage_today_cached = usage[user.pk]
        return changelist

    @admin.display(description="limits (day / minute)")
    def limits(self, obj: User) -> str:
        if obj.pk is None:
            return "—"
        limits = limits_for(obj)
        return f"{limits['day']:,} / {limits['minute']:,}"

    @admin.display(description="requests today")
    def usage_today(self, obj: User) -> str:
        if obj.pk is None:
            return "—"
        used = getattr(obj, "usage_today_cached", None)
        if used is None:
            used = usage_today_many([obj])[obj.pk]
        return f"{used:,} of {limits_for(obj)['day']:,}"

    @admin.display(description="links")
    def memory_links(self, obj: User):
        if obj.pk is None:
            return "—"
        spaces = obj.owned_spaces.order_by("kind", "name")
        links = [
            (reverse("admin:scopes_space_overview", args=[space.pk]), f"Memory overview: {space}") for space in spaces
        ]
        links.append((reverse("admin:accounts_apikey_changelist") + f"?user={obj.pk}", "API keys"))
        return format_html_join(mark_safe("<br>"), '<a href="{}">{}</a>', links)


class KeyStatusFilter(admin.SimpleListFilter):
    """The status ``ApiKeyAdmin.status`` shows: a key of a deactivated account is refused by the API
    (``api_key_authenticate``) however live it is, and works again once the account is reactivated."""

    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("inactive", "Owner inactive"), ("expired", "Expired"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        now = timezone.now()
        live = queryset.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now), revoked_at__isnull=True)
        if self.value() == "active":
            return live.filter(user__is_active=True)
        if self.value() == "inactive":
            return live.filter(user__is_active=False)
        if self.value() == "expired":
            return queryset.filter(expires_at__lte=now, revoked_at__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(BoundedAdmin, NoSecretLookupsMixin, admin.ModelAdmin):
    list_display = ["name", "key_prefix", "user", "scope", "status", "created_at", "last_used_at", "expires_at"]
    list_filter = [KeyStatusFilter, "scope"]
    search_fields = ["name", "prefix", "user__email"]
    search_help_text = "Key name, key prefix (sx_live_…) or owner email."
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    # The digest is the credential's lookup key: never rendered, posted or searchable.
    fields = ["name", "key_prefix", "user", "scope", "expires_at", "created_at", "last_used_at", "revoked_at"]
    # Scope and expiry are the owner's choice at creation: raising a read key to write, or
    # reviving an expired key, is not staff's to do. Staff may rename or revoke a key.
    readonly_fields = ["key_prefix", "user", "scope", "expires_at", "created_at", "last_used_at", "revoked_at"]
    form = ApiKeyAdminForm  # a new name keeps the rule of the keys page and the API
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False  # keys are made by their owners or the create_api_key command

    @admin.display(description="key", ordering="prefix")
    def key_prefix(self, obj: ApiKey) -> str:
        return f"{obj.prefix}…"

    @admin.display(description="status")
    def status(self, obj: ApiKey) -> str:
        if obj.revoked_at is not None:
            return "revoked"
        if obj.is_expired():
            return "expired"
        return "active" if obj.user.is_active else "owner inactive"

    @admin.action(description="Revoke selected keys", permissions=["change"])
    def revoke(self, request, queryset):
        keys = api_keys_revoke(keys=queryset)
        # One INSERT for the whole selection (``log_change`` writes one row per call).
        LogEntry.objects.log_actions(request.user.pk, keys, CHANGE, change_message="Revoked the key.")
        self.message_user(request, f"Revoked {len(keys):,} key(s).")
