"""The scoped accessor: which space a request acts on, and with which role.

Every memory endpoint narrows its querysets to ``space_for_request(request).space``; nothing
else decides which space a request may see. The active space is, in order: the
``X-Synchronex-Scope`` header (a workspace id or ``personal``), else the workspace the user
stored with ``PATCH /scope``, else the personal space. A workspace the caller is not a member
of is NOT_FOUND. A stored workspace the user has since left is dropped: the request falls back
to the personal space and says so in the ``X-Synchronex-Scope-Notice`` response header.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.db.models import OuterRef, Q, Subquery

from apps.scopes.models import ActiveScope, Membership, Role, Space
from apps.scopes.services import space_ensure_personal
from synchronex.api import errors

SCOPE_HEADER = "X-Synchronex-Scope"
NOTICE_HEADER = "X-Synchronex-Scope-Notice"
FALLBACK_NOTICE = "Your stored workspace is no longer available to you; using your personal scope."


@dataclass(frozen=True)
class ActiveSpace:
    space: Space
    role: str  # owner/admin/member/viewer; the personal space is always "owner"
    notice: str | None = None

    @property
    def scope(self) -> str:
        return self.space.kind

    @property
    def is_personal(self) -> bool:
        return self.space.kind == Space.Kind.PERSONAL

    @property
    def can_write(self) -> bool:
        return self.role != Role.VIEWER

    @property
    def can_manage(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


def _candidates(user, workspace) -> list[Space]:
    """The personal space and (if any) one workspace, with the user's role there — one query.

    ``workspace`` is a workspace id, or a subquery for the stored active scope.
    """
    role = Membership.objects.filter(space_id=OuterRef("pk"), user_id=user.pk).values("role")[:1]
    condition = Q(owner_id=user.pk, kind=Space.Kind.PERSONAL)
    if workspace is not None:
        condition |= Q(pk=workspace) & ~Q(kind=Space.Kind.PERSONAL)
    return list(Space.objects.filter(condition).select_related("owner").annotate(member_role=Subquery(role)))


def _parse_workspace_id(raw: str):
    try:
        return uuid.UUID(raw.strip())
    except ValueError:
        raise errors.ValidationFailed.for_fields({SCOPE_HEADER: "Use a workspace id or 'personal'."}) from None


def resolve_active_space(user, header: str | None) -> ActiveSpace:
    if header is None:
        wanted = Subquery(ActiveScope.objects.filter(user_id=user.pk).values("workspace_id")[:1])
    elif header.strip().lower() == "personal":
        wanted = None
    else:
        wanted = _parse_workspace_id(header)
    spaces = _candidates(user, wanted)
    personal = next((s for s in spaces if s.kind == Space.Kind.PERSONAL), None) or space_ensure_personal(user=user)
    workspace = next((s for s in spaces if s.kind != Space.Kind.PERSONAL), None)
    if workspace is not None and workspace.member_role is not None:
        return ActiveSpace(space=workspace, role=workspace.member_role)
    if header is not None and wanted is not None:
        raise errors.NotFound("No such workspace.")
    if workspace is not None:  # stored, but the user is no longer a member
        ActiveScope.objects.filter(user_id=user.pk).update(workspace=None)
        return ActiveSpace(space=personal, role=Role.OWNER, notice=FALLBACK_NOTICE)
    return ActiveSpace(space=personal, role=Role.OWNER)


def space_for_request(request) -> ActiveSpace:
    """The active space of an authenticated API request (resolved once, cached on the request)."""
    cached = getattr(request, "_active_space", None)
    if cached is None:
        cached = resolve_active_space(request.user, request.headers.get(SCOPE_HEADER))
        request._active_space = cached
    return cached


def workspaces_for_user(user):
    """The workspaces a user belongs to, with their role, newest first."""
    return (
        Membership.objects.filter(user=user)
        .exclude(space__kind=Space.Kind.PERSONAL)
        .select_related("space")
        .order_by("-space__created_at")
    )


def workspace_membership(*, user, workspace_id) -> Membership:
    """The caller's membership of a workspace, or NOT_FOUND (unknown and foreign look the same)."""
    membership = (
        Membership.objects.filter(user=user, space_id=workspace_id)
        .exclude(space__kind=Space.Kind.PERSONAL)
        .select_related("space")
        .first()
    )
    if membership is None:
        raise errors.NotFound("No such workspace.")
    return membership
