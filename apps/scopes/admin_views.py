"""The per-space memory overview page of the admin: kernel, products and recent decisions together.

Read-only: a workspace's effective kernel is rendered here without caching it (the renderer is
pure), so looking at a space never writes to it. BYOK keys pasted into what it shows are redacted
as on every admin page (``space_scrubbers``: the space's keys and, in a workspace, every member's
personal ones, whoever the kernel is seen as), the kernel rendered again from its redacted sections.
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

from apps.accounts.models import User
from apps.decisions.models import Decision
from apps.identity import renderer
from apps.identity.models import Kernel
from apps.identity.selectors import kernel_layers, kernel_merged_sections
from apps.memory.mif.export import scrub_json
from apps.products.models import ProductState
from apps.scopes.models import Space
from apps.scopes.selectors import parse_id
from synchronex.admin_redaction import redact_row, space_scrubbers

RECENT_DECISIONS = 10
MEMBERS_SUGGESTED = 20  # emails offered by the member picker; any other member is typed in
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


def kernel_summary(*, space: Space, member=None, scrub=None) -> KernelSummary:
    """Personal space: the layer and its cached block. Workspace: ``member``'s personal layer
    under the workspace layer (the owner by default), rendered now and not stored. ``scrub``
    (a ``space_scrubbers`` one) redacts the sections, which are then rendered again if it changed them."""
    scrub = scrub or (lambda text: text)
    if space.kind == Space.Kind.PERSONAL:
        layer = Kernel.objects.filter(space=space).first()
        if layer is None:
            return KernelSummary("", 0, False, 0, None, None, None)
        sections = scrub_json(layer.sections(), scrub)
        if sections == layer.sections():
            block = renderer.RenderedBlock(layer.injection_block, layer.injection_tokens, layer.truncated)
        else:
            block = renderer.render_block(sections)
        return KernelSummary(block.text, block.tokens, block.truncated, layer.version, layer.updated_at, layer, None)
    member = member or space.owner
    personal, workspace = kernel_layers(space=space, user=member)
    block = renderer.render_block(scrub_json(kernel_merged_sections(personal=personal, workspace=workspace), scrub))
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


def chosen_member(space: Space, wanted: str):
    """The member of ``space`` that ``wanted`` names (their email in any case, or their user id),
    or None. One query, through the email's unique index: never a list of every member."""
    wanted = wanted.strip()
    if not wanted or "\x00" in wanted:
        return None  # PostgreSQL text holds no NUL: no email is one, and comparing with one fails
    memberships = space.memberships.select_related("user")
    pk = parse_id(wanted)
    if pk is not None:
        membership = memberships.filter(user_id=pk).first()
    else:
        membership = memberships.filter(user__in=User.objects.by_email(wanted)).first()
    return membership.user if membership is not None else None


def memory_overview_view(request, space_id, *, site=admin.site):
    """``/admin/scopes/space/<id>/overview/``: what an AI session of this space starts from."""
    if not all(request.user.has_perm(permission) for permission in REQUIRED_PERMISSIONS):
        raise PermissionDenied
    space = Space.objects.select_related("owner").filter(pk=space_id).first()
    if space is None:
        raise Http404("No such space.")
    suggestions, member, unknown = [], None, None
    if space.kind != Space.Kind.PERSONAL:
        # A workspace may have thousands of members: a few emails to pick from, any other typed in.
        emails = space.memberships.order_by("user__email").values_list("user__email", flat=True)
        suggestions = list(emails[:MEMBERS_SUGGESTED])
        wanted = request.GET.get("member", "").strip()
        member = chosen_member(space, wanted)
        unknown = wanted if wanted and member is None else None
    # One query: the space's keys, in a workspace with every member's personal ones (staff see what
    # any member wrote; the chosen member's keys alone left the others' in clear).
    scrub = space_scrubbers([space.pk]).get(space.pk)
    kernel = kernel_summary(space=space, member=member, scrub=scrub)
    products = list(ProductState.objects.filter(space=space).order_by("-last_activity_at", "id")[: PRODUCTS_SHOWN + 1])
    decisions = list(
        Decision.objects.filter(space=space)
        .select_related("product")
        .defer("embedding", "reasoning")
        .order_by("-decided_at", "id")[:RECENT_DECISIONS]
    )
    if scrub is not None:
        for product in [*products, *(decision.product for decision in decisions)]:
            redact_row(product, scrub, ["name", "next_session_starts_here"])
        for decision in decisions:
            redact_row(decision, scrub, ["decision", "tags"])
    context = {
        **site.each_context(request),
        "title": f"Memory overview: {space.name}",
        "subtitle": None,
        "opts": Space._meta,
        "space": space,
        "kernel": kernel,
        "workspace": space.kind != Space.Kind.PERSONAL,
        "member_suggestions": suggestions,
        "member_unknown": unknown,
        "products": products[:PRODUCTS_SHOWN],
        "more_products": len(products) > PRODUCTS_SHOWN,
        "decisions": decisions,
        "space_lists": _space_lists(request, space, site),
    }
    return TemplateResponse(request, "admin/scopes/space/overview.html", context)
