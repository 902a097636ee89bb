"""Admin for spaces, their members, and the per-space memory overview page.

Spaces and memberships change through the API (tier checks, roles, the owner's membership);
here they are inspected and, for spaces, deleted.
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count
from django.forms.models import BaseInlineFormSet
from django.urls import path, reverse
from django.utils.html import format_html

from apps.scopes.admin_views import memory_overview_view
from apps.scopes.models import Membership, Space
from apps.scopes.services import spaces_delete
from synchronex.admin_bounds import BoundedAdmin
from synchronex.admin_deletes import RetriedDeletesMixin
from synchronex.admin_rules import on_own_pages

MEMBERS_SHOWN = 20  # members a workspace's page lists inline; the membership list has them all


def overview_link(space_id) -> str:
    """A link to a space's memory overview, for other admins' pages."""
    return format_html('<a href="{}">Memory overview</a>', reverse("admin:scopes_space_overview", args=[space_id]))


class FirstMembersFormSet(BaseInlineFormSet):
    """The space's first ``MEMBERS_SHOWN`` members only: a workspace of 1,000 made a 1.4 MB page.
    Read-only rows, so nothing is posted back for the members left out."""

    def get_queryset(self):
        if not hasattr(self, "_first_members"):
            self._first_members = super().get_queryset()[:MEMBERS_SHOWN]
        return self._first_members


class MembershipInline(admin.TabularInline):
    model = Membership
    formset = FirstMembersFormSet
    verbose_name_plural = f"members (the first {MEMBERS_SHOWN} by email)"
    fields = ["user", "role", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("user").order_by("user__email")

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Space)
class SpaceAdmin(RetriedDeletesMixin, BoundedAdmin, admin.ModelAdmin):
    """Spaces, deleted with their memory through ``spaces_delete``, which waits for a running
    consolidation of the space (``synchronex/admin_deletes.py``)."""

    list_display = ["name", "kind", "owner", "member_count", "created_at", "overview"]
    list_filter = ["kind"]
    search_fields = ["name", "owner__email"]
    search_help_text = "Space name or owner email."
    list_select_related = ["owner"]
    date_hierarchy = "created_at"
    fields = ["id", "name", "kind", "owner", "created_at", "overview", "members"]
    readonly_fields = fields
    inlines = [MembershipInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(member_count=Count("memberships"))

    def get_urls(self):
        view = self.admin_site.admin_view(
            lambda request, space_id: memory_overview_view(request, space_id, site=self.admin_site)
        )
        return [path("<uuid:space_id>/overview/", view, name="scopes_space_overview"), *super().get_urls()]

    def has_add_permission(self, request):
        return False  # personal spaces come with their user; workspaces are created over the API

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # A personal space goes with its user, not on its own: it would come back empty on the
        # owner's next request, its kernel and products at version 1 again, and an If-Match kept
        # from before would then match a different layer. A workspace's id is never used again.
        if obj is not None and obj.kind == Space.Kind.PERSONAL and on_own_pages(self, request):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        spaces_delete(spaces=Space.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        spaces_delete(spaces=queryset)

    @admin.display(description="members", ordering="member_count")
    def member_count(self, obj: Space) -> int:
        return obj.member_count

    @admin.display(description="memory")
    def overview(self, obj: Space) -> str:
        return overview_link(obj.pk)

    @admin.display(description="members")
    def members(self, obj: Space) -> str:
        every = reverse("admin:scopes_membership_changelist") + f"?space={obj.pk}"
        count = obj.member_count
        listed = "listed below" if count <= MEMBERS_SHOWN else f"the first {MEMBERS_SHOWN} by email listed below"
        return format_html(
            '{} member{}, {}: <a href="{}" id="all-members">all members</a>',
            f"{count:,}",
            "" if count == 1 else "s",
            listed,
            every,
        )


@admin.register(Membership)
class MembershipAdmin(BoundedAdmin, admin.ModelAdmin):
    list_display = ["user", "space", "role", "created_at"]
    list_filter = ["role", "space__kind"]
    search_fields = ["user__email", "space__name"]
    search_help_text = "Member email or workspace name."
    list_select_related = ["user", "space"]
    date_hierarchy = "created_at"
    fields = ["space", "user", "role", "created_at"]
    readonly_fields = fields

    def has_add_permission(self, request):
        return False  # members are added by workspace owners and admins over the API

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        # Not on these pages: removing a member goes through the API, which never removes a
        # workspace's owner. Deleting a space or a user here still takes its memberships with
        # it (Django asks this same question of every row such a delete cascades to).
        if on_own_pages(self, request):
            return False
        return super().has_delete_permission(request, obj)
