"""Admin for OAuth apps, tokens, pending codes and app usage.

django-oauth-toolkit registers its own admins; they are replaced here by subclasses that keep
its revoke actions and add what the console needs: useful columns and filters, everything
read-only, and no token material anywhere. Tokens are stored hashed (``token`` is blank and
``token_checksum`` is the SHA-256 lookup key); neither the checksum, a client secret nor an
authorization code is rendered, nor can a changelist filter on one (``NoSecretLookupsMixin``:
``?code__startswith=`` would read a pending code out a character at a time). The OIDC ID-token
admin is dropped: OpenID Connect is off.
"""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth import get_permission_codename
from django.contrib.contenttypes.models import ContentType
from django.db.models import Count, Q
from django.utils import timezone
from oauth2_provider import admin as dot_admin
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_id_token_model,
    get_refresh_token_model,
)

from apps.oauth.models import AppUsage
from apps.oauth.services import Revoked, access_tokens_revoke, refresh_tokens_revoke
from synchronex.admin_bounds import BoundedAdmin
from synchronex.admin_rules import NoSecretLookupsMixin, on_own_pages

Application = get_application_model()
AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()
Grant = get_grant_model()

for _model in (Application, AccessToken, RefreshToken, Grant, get_id_token_model()):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)


class ReadOnlyMixin:
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class TokenDeleteMixin:
    """DOT refuses deleting a token from its own pages (revoke it instead: a deleted access token
    would leave its refresh token behind, still able to mint new ones). That refusal must not stop
    a user or an app from being deleted, which takes both tokens with it."""

    def has_delete_permission(self, request, obj=None):
        if on_own_pages(self, request):
            return False
        return admin.ModelAdmin.has_delete_permission(self, request, obj)


class RevokeActionMixin:
    """A revoke action, offered only to staff allowed to change tokens (not to view-only staff).

    Each admin's ``revoke_tokens`` replaces DOT's, which revokes one token at a time: the whole
    selection (every token of an app, with "Select all") is revoked in a few statements by the
    services, and the message says how many tokens it ended.
    """

    actions = ["revoke_selected"]

    def has_revoke_permission(self, request) -> bool:
        opts = self.model._meta
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('change', opts)}")

    @admin.action(description="Revoke selected tokens", permissions=["revoke"])
    def revoke_selected(self, request, queryset):
        return self.revoke_tokens(request, queryset)


def log_revoked(request, revoked: Revoked) -> None:
    """A revocation in the admin's history with the staff member, as *Revoke selected keys* logs
    its keys, in two INSERTs: a change on each refresh token revoked; an access token is deleted,
    its own history with it, so its entry (a deletion, which outlives it) names its user and app."""
    message = "Revoked the token."
    LogEntry.objects.log_actions(request.user.pk, revoked.refresh_tokens, CHANGE, change_message=message)
    content_type = ContentType.objects.get_for_model(AccessToken)
    entries = [
        LogEntry(
            user_id=request.user.pk,
            content_type=content_type,
            object_id=str(token.pk),
            object_repr=f"{token} of {token.user or 'no user'} for {token.application or 'no app'}"[:200],
            action_flag=DELETION,
            change_message=message,
        )
        for token in revoked.access_tokens
    ]
    LogEntry.objects.bulk_create(entries)


class ExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [("live", "Not expired"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(expires__gt=timezone.now())
        if self.value() == "expired":
            return queryset.filter(expires__lte=timezone.now())
        return queryset


@admin.register(Application)
class ApplicationAdmin(BoundedAdmin, NoSecretLookupsMixin, ReadOnlyMixin, dot_admin.ApplicationAdmin):
    """Third-party apps, registered over RFC 7591 (strict redirect checks), so never typed in here."""

    list_display = (
        "name",
        "client_id",
        "client_type",
        "registration_source",
        "live_tokens",
        "created",
    )
    list_filter = ("client_type", "registration_source", "skip_authorization")
    search_fields = ("name", "client_id", "user__email")
    search_help_text = "App name, client id or owner email."
    date_hierarchy = "created"
    # Never ``client_secret`` (a hash for confidential clients, but still credential material).
    fields = (
        "name",
        "client_id",
        "client_type",
        "authorization_grant_type",
        "redirect_uris",
        "registration_source",
        "skip_authorization",
        "user",
        "created",
        "updated",
    )
    readonly_fields = fields
    # DOT's ``get_absolute_url`` names a page this project does not route (the button was a 500).
    view_on_site = False

    def get_queryset(self, request):
        live = Q(accesstoken__expires__gt=timezone.now())
        return super().get_queryset(request).annotate(live_token_count=Count("accesstoken", filter=live))

    @admin.display(description="live access tokens", ordering="live_token_count")
    def live_tokens(self, obj) -> int:
        return obj.live_token_count


@admin.register(AccessToken)
class AccessTokenAdmin(
    BoundedAdmin, NoSecretLookupsMixin, RevokeActionMixin, ReadOnlyMixin, TokenDeleteMixin, dot_admin.AccessTokenAdmin
):
    """Access tokens (``sxo_``); revoking one also revokes the refresh token it came with."""

    list_display = ("id", "user", "application", "scope", "status", "created", "expires")
    # Not by application: that filter lists every registered app, and anyone can register one.
    # The search finds tokens by app name or client id.
    list_filter = (ExpiryFilter,)
    search_help_text = "App name, client id or user email (never the token)."
    date_hierarchy = "created"
    fields = ("id", "user", "application", "scope", "status", "created", "expires", "source_refresh_token")
    readonly_fields = fields

    def get_exclude(self, request, obj=None):
        return ("token", "token_checksum")

    def revoke_tokens(self, request, queryset):
        revoked = access_tokens_revoke(access_tokens=queryset)
        log_revoked(request, revoked)
        self.message_user(
            request,
            f"Revoked {len(revoked.access_tokens):,} access token(s) and {len(revoked.refresh_tokens):,} "
            "refresh token(s) issued with them.",
        )

    @admin.display(description="status")
    def status(self, obj) -> str:
        return "expired" if obj.is_expired() else "active"


class RevokedFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("live", "Not revoked"), ("revoked", "Revoked")]

    def queryset(self, request, queryset):
        if self.value() == "live":
            return queryset.filter(revoked__isnull=True)
        if self.value() == "revoked":
            return queryset.filter(revoked__isnull=False)
        return queryset


@admin.register(RefreshToken)
class RefreshTokenAdmin(
    BoundedAdmin, NoSecretLookupsMixin, RevokeActionMixin, ReadOnlyMixin, TokenDeleteMixin, dot_admin.RefreshTokenAdmin
):
    """Refresh tokens (``sxr_``); revoked ones are kept so that a replay is recognised as reuse."""

    list_display = ("id", "user", "application", "created", "revoked", "token_family")
    list_filter = (RevokedFilter,)  # not by application, as access tokens
    search_help_text = "App name, client id or user email (never the token)."
    date_hierarchy = "created"
    fields = ("id", "user", "application", "access_token", "token_family", "created", "updated", "revoked")
    readonly_fields = fields

    def get_exclude(self, request, obj=None):
        return ("token", "token_checksum")

    def revoke_tokens(self, request, queryset):
        revoked = refresh_tokens_revoke(refresh_tokens=queryset)
        log_revoked(request, revoked)
        self.message_user(
            request,
            f"Revoked {len(revoked.refresh_tokens):,} refresh token(s) and {len(revoked.access_tokens):,} "
            "access token(s) issued with them (a refresh token already revoked is left as it is).",
        )


@admin.register(Grant)
class GrantAdmin(BoundedAdmin, NoSecretLookupsMixin, ReadOnlyMixin, dot_admin.GrantAdmin):
    """Pending authorization codes (single use, a minute long); the code itself is never shown."""

    list_display = ("id", "application", "user", "scope", "created", "expires")
    list_select_related = ("application", "user")
    list_filter = (ExpiryFilter,)
    date_hierarchy = "created"
    fields = ("id", "application", "user", "redirect_uri", "scope", "code_challenge_method", "created", "expires")
    readonly_fields = fields

    def get_exclude(self, request, obj=None):
        return ("code", "code_challenge", "nonce", "claims")


@admin.register(AppUsage)
class AppUsageAdmin(BoundedAdmin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["application", "user", "last_used_at", "created_at"]
    list_select_related = ["application", "user"]
    search_fields = ["application__name", "application__client_id", "user__email"]
    search_help_text = "App name, client id or user email."
    date_hierarchy = "last_used_at"
    fields = ["user", "application", "last_used_at", "created_at"]
    readonly_fields = fields
