"""Admin for Identity Kernels (their rendered block, token count and revisions), read-only."""

from __future__ import annotations

import json

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.identity import renderer
from apps.identity.layers import SECTIONS
from apps.identity.models import Kernel, KernelRevision
from apps.scopes.admin import overview_link
from synchronex.admin_bounds import BoundedAdmin
from synchronex.admin_redaction import RedactedAdmin
from synchronex.admin_rules import DeletedOnlyWithOwnerMixin

RECENT_REVISIONS = 10


def _pretty_json(value) -> str:
    return format_html('<pre style="white-space: pre-wrap">{}</pre>', json.dumps(value, indent=2, ensure_ascii=False))


class ReadOnlyAdmin(RedactedAdmin, BoundedAdmin, DeletedOnlyWithOwnerMixin, admin.ModelAdmin):
    """Kernels change only through the API, which validates, versions and records revisions.

    Nor are they deleted here (they go with their space or user): a layer written again after a
    delete starts again at version 1, so an If-Match kept from before would match it. Their pages
    show pasted BYOK keys redacted (``RedactedAdmin``); their lists show no stored text.
    """

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Kernel)
class KernelAdmin(ReadOnlyAdmin):
    list_display = ["space", "owner", "version", "injection_tokens", "truncated", "updated_at"]
    list_filter = ["truncated", "space__kind"]
    search_fields = ["space__name", "space__owner__email"]
    search_help_text = "Space name or owner email."
    list_select_related = ["space", "space__owner"]
    date_hierarchy = "updated_at"
    fields = [
        "space",
        "overview",
        "version",
        "updated_at",
        "rendered_block",
        "injection_tokens",
        "truncated",
        "block_key",
        "identity",
        "products",
        "constraints",
        "model_preferences",
        "recent_revisions",
        "id",
        "origin_id",
    ]
    readonly_fields = fields

    def redact(self, obj: Kernel, scrub) -> None:
        sections = obj.sections()
        super().redact(obj, scrub)
        if obj.sections() != sections:
            # Rendered again from the redacted sections, as the exports do: the renderer escapes
            # characters a key may hold (a "*"), so the stored block may not contain it verbatim.
            obj.injection_block = scrub(renderer.render_block(obj.sections()).text)

    @admin.display(description="owner", ordering="space__owner__email")
    def owner(self, obj: Kernel) -> str:
        return obj.space.owner.email

    @admin.display(description="Injection block")
    def rendered_block(self, obj: Kernel):
        return format_html('<pre style="white-space: pre-wrap" id="injection-block">{}</pre>', obj.injection_block)

    @admin.display(description="memory")
    def overview(self, obj: Kernel):
        return overview_link(obj.space_id)

    @admin.display(description="revisions")
    def recent_revisions(self, obj: Kernel):
        revisions = list(obj.revisions.select_related("actor_user").order_by("-version")[:RECENT_REVISIONS])
        if not revisions:
            return "None yet."
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">v{}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:identity_kernelrevision_change", args=[revision.pk]),
                    revision.version,
                    revision.created_at.strftime("%Y-%m-%d %H:%M"),
                    revision.actor,
                    revision.actor_user.email if revision.actor_user else "—",
                )
                for revision in revisions
            ),
        )
        every = reverse("admin:identity_kernelrevision_changelist") + f"?kernel={obj.pk}"
        return format_html(
            '<table id="kernel-revisions"><thead><tr><th>Version</th><th>Written</th><th>By credential</th>'
            '<th>By user</th></tr></thead><tbody>{}</tbody></table><p><a href="{}">All revisions</a></p>',
            rows,
            every,
        )


class ActorKindFilter(admin.SimpleListFilter):
    """Which kind of credential or process wrote a revision (the actor's prefix)."""

    title = "written by"
    parameter_name = "actor_kind"
    KINDS = [("api_key", "API key"), ("oauth", "OAuth app"), ("consolidation", "Consolidation"), ("mcp", "MCP")]

    def lookups(self, request, model_admin):
        return self.KINDS

    def queryset(self, request, queryset):
        if self.value() in dict(self.KINDS):
            return queryset.filter(actor__startswith=f"{self.value()}:")
        return queryset


@admin.register(KernelRevision)
class KernelRevisionAdmin(ReadOnlyAdmin):
    list_display = ["kernel", "version", "actor", "actor_user", "created_at"]
    # No date drill-down: it runs DISTINCT over every revision (there is no space to narrow to);
    # the date filter's fixed ranges cost nothing.
    list_filter = [ActorKindFilter, "kernel__space__kind", "created_at"]
    search_fields = ["kernel__space__name", "kernel__space__owner__email", "actor", "actor_user__email"]
    search_help_text = "Space name, owner email, actor (api_key:…, oauth:…) or user email."
    list_select_related = ["kernel", "kernel__space", "actor_user"]
    fields = ["kernel", "version", "actor", "actor_user", "created_at", "snapshot_json", "snapshot_block"]
    readonly_fields = fields

    def space_of(self, obj: KernelRevision):
        return obj.kernel.space_id  # the page names the kernel: loaded now instead of then

    @admin.display(description="snapshot")
    def snapshot_json(self, obj: KernelRevision):
        return _pretty_json(obj.snapshot)

    @admin.display(description="this layer's injection block at the time")
    def snapshot_block(self, obj: KernelRevision):
        block = renderer.render_block({section: obj.snapshot.get(section) for section in SECTIONS})
        return format_html(
            '<pre style="white-space: pre-wrap">{}</pre><p>{} tokens{}</p>',
            block.text,
            block.tokens,
            ", truncated" if block.truncated else "",
        )
