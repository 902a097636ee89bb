"""The per-space memory overview page of the admin: kernel, products and recent decisions together.

Read-only: a workspace's effective kernel is rendered here without caching it (the renderer is
pure), so looking at a space never writes to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.apps import apps
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import reverse

from apps.decisions.models import Decision
from apps.identity import renderer
from apps.identity.models import Kernel
from apps.identity.selectors import kernel_layers, kernel_merged_sections
from apps.products.models import ProductState
from apps.scopes.models import Space

RECENT_DECISIONS = 10
PRODUCTS_SHOWN = 50
# The changelists linked from the page, each filtered to the space (label, app_label.Model).
SPACE_LISTS = [
    ("Decisions", "decisions.Decision"),
    ("Product states", "products.ProductState"),
    ("Memories", "memory.Memory"),
    ("Signals", "ingest.Signal"),
    ("Consolidation jobs", "memory.ConsolidationJob"),
    ("Cost events", "costs.CostEvent"),
    ("BYOK credentials", "byok.ByokCredential"),
    ("MCP sessions", "mcp.McpSession"),
    ("Members", "scopes.Membership"),
]
REQUIRED_PERMISSIONS = (
    "scopes.view_space",
    "identity.view_kernel",
    "products.view_productstate",
    "decisions.view_decision",
)


@dataclass(frozen=True)
class KernelSummary:
    """The effective kernel's block as the chosen member sees it, and the layer it comes from."""

    block: str
    tokens: int
    truncated: bool
    version: int
    updated_at: datetime | None
    layer: Kernel | None
    seen_as: object | None  # the member whose personal layer sits under a workspace layer


def kernel_summary(*, space: Space, member=None) -> KernelSummary:
    """Personal space: the layer and its cached block. Workspace: ``member``'s personal layer
    under the workspace layer (the owner by default), rendered now and not stored."""
    if space.kind == Space.Kind.PERSONAL:
        layer = Kernel.objects.filter(space=space).first()
        if layer is None:
            return KernelSummary("", 0, False, 0, None, None, None)
        return KernelSummary(
            layer.injection_block, layer.injection_tokens, layer.truncated, layer.version, layer.updated_at, layer, None
        )
    member = member or space.owner
    personal, workspace = kernel_layers(space=space, user=member)
    block = renderer.render_block(kernel_merged_sections(personal=personal, workspace=workspace))
    stamps = [row.updated_at for row in (personal, workspace) if row is not None and row.updated_at]
    return KernelSummary(
        block.text,
        block.tokens,
        block.truncated,
        workspace.version if workspace is not None else 0,
        max(stamps, default=None),
        workspace,
        member,
    )


def _space_lists(request, space: Space, site) -> list[tuple[str, str]]:
    links = []
    for label, model_label in SPACE_LISTS:
        model = apps.get_model(model_label)
        model_admin = site._registry.get(model)
        if model_admin is None or not model_admin.has_view_permission(request):
            continue
        url = reverse(f"{site.name}:{model._meta.app_label}_{model._meta.model_name}_changelist")
        links.append((label, f"{url}?space={space.pk}"))
    return links


def memory_overview_view(request, space_id, *, site=admin.site):
    """``/admin/scopes/space/<id>/overview/``: what an AI session of this space starts from."""
    if not all(request.user.has_perm(permission) for permission in REQUIRED_PERMISSIONS):
        raise PermissionDenied
    space = Space.objects.select_related("owner").filter(pk=space_id).first()
    if space is None:
        raise Http404("No such space.")
    members = []
    member = None
    if space.kind != Space.Kind.PERSONAL:
        members = [m.user for m in space.memberships.select_related("user").order_by("user__email")]
        wanted = request.GET.get("member")
        member = next((user for user in members if str(user.pk) == wanted), None)
    kernel = kernel_summary(space=space, member=member)
    products = list(ProductState.objects.filter(space=space).order_by("-last_activity_at", "id")[: PRODUCTS_SHOWN + 1])
    decisions = list(
        Decision.objects.filter(space=space)
        .select_related("product")
        .defer("embedding", "reasoning")
        .order_by("-decided_at", "id")[:RECENT_DECISIONS]
    )
    context = {
        **site.each_context(request),
        "title": f"Memory overview: {space.name}",
        "subtitle": None,
        "opts": Space._meta,
        "space": space,
        "kernel": kernel,
        "members": members,
        "products": products[:PRODUCTS_SHOWN],
        "more_products": len(products) > PRODUCTS_SHOWN,
        "decisions": decisions,
        "space_lists": _space_lists(request, space, site),
    }
    return TemplateResponse(request, "admin/scopes/space/overview.html", context)
