"""The scoped accessor: which space a request acts on, and with which role.

Every memory endpoint narrows its querysets to ``space_for_request(request).space``; nothing
else decides which space a request may see. The active space is, in order: the
``X-Synchronex-Scope`` header (a workspace id or ``personal``), else the workspace the user
stored with ``PATCH /scope``, else the personal space. A workspace the caller is not a member
of is NOT_FOUND. A stored workspace the user has since left, or one deleted since (its id stays
stored, see ``ActiveScope``), is dropped: the request falls back to the personal space and says so
in the ``X-Synchronex-Scope-Notice`` response header.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from apps.memory.embeddings import embedding_settings_columns, preload_embedding_settings
from apps.scopes.models import ActiveScope, Membership, Role, Space
from apps.scopes.services import space_ensure_personal
from synchronex.api import errors, stamps
from synchronex.api.rows import Rows, fetch_all

SCOPE_HEADER = "X-Synchronex-Scope"
SCOPE_META = "HTTP_" + SCOPE_HEADER.upper().replace("-", "_")  # in request.META: no header mapping built
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
    def fell_back(self) -> bool:
        """Whether the stored workspace was dropped for the personal space on this request (the
        notice says so): its conditional writes are refused (``preconditions.refuse_after_fallback``)."""
        return self.notice == FALLBACK_NOTICE

    @property
    def is_personal(self) -> bool:
        return self.space.kind == Space.Kind.PERSONAL

    @property
    def can_write(self) -> bool:
        return self.role != Role.VIEWER

    @property
    def can_manage(self) -> bool:
        return self.role in (Role.OWNER, Role.ADMIN)


# The personal space and at most one workspace (given, or the stored active scope), with the
# caller's role there: one statement on every API request, so it is written out rather than
# compiled from the ORM on each call (the compile cost several times the query). Each space comes
# with its embedding settings (``preload_embedding_settings``), which every search and kernel
# export asks for: remembered with the space between requests, they cost no statement of their
# own (a change to them renews the stamps of the space's people, migration ``memory.0005``).
# Each row also carries the stored workspace id: one whose workspace is gone matches no row.
_SPACE = Rows(Space, "s")
_CANDIDATES_SQL = """
SELECT {columns},
       (SELECT m.role FROM scopes_membership m WHERE m.space_id = s.id AND m.user_id = %(user)s) AS member_role,
       {stored} AS stored_id,
       {settings}
FROM scopes_space s LEFT JOIN memory_embeddingsettings e ON e.space_id = s.id
WHERE (s.owner_id = %(user)s AND s.kind = 'personal')
   OR (s.kind <> 'personal' AND s.id = {workspace})
"""
_STORED = "(SELECT a.workspace_id FROM scopes_activescope a WHERE a.user_id = %(user)s)"
_CANDIDATES = {
    name: _CANDIDATES_SQL.format(
        columns=_SPACE.columns,
        settings=embedding_settings_columns(),
        workspace=workspace,
        stored=_STORED if name == "stored" else "NULL::uuid",
    )
    for name, workspace in (("none", "NULL"), ("stored", _STORED), ("given", "%(workspace)s"))
}


def _candidates(user, workspace_id) -> tuple[list[Space], uuid.UUID | None]:
    """The personal space and the wanted workspace (an id; ``STORED`` for the stored scope), and
    the stored workspace id when ``STORED`` was asked for (None when it was not, or none is
    stored, or the user has no personal space yet)."""
    if workspace_id is None:
        sql, params = _CANDIDATES["none"], {"user": user.pk}
    elif workspace_id is STORED:
        sql, params = _CANDIDATES["stored"], {"user": user.pk}
    else:
        sql, params = _CANDIDATES["given"], {"user": user.pk, "workspace": workspace_id}
    spaces, stored_id = [], None
    for row in fetch_all(sql, params):
        space = _SPACE.build(row[: _SPACE.width])
        space.member_role, stored_id = row[_SPACE.width], row[_SPACE.width + 1]
        preload_embedding_settings(space, row[_SPACE.width + 2 :])
        if space.owner_id == user.pk:
            space.owner = user  # spare the lazy lookup of an owner we already hold
        spaces.append(space)
    return spaces, stored_id


STORED = object()


def parse_id(raw) -> uuid.UUID | None:
    """A workspace or member id spelled as the ``X-Synchronex-Scope`` header takes one (the trimmed
    text in any case, with or without dashes, braces or ``urn:uuid:``), or None. Path ids too: a
    client that stores ids in upper case or without dashes names the same workspace everywhere."""
    try:
        return uuid.UUID(str(raw).strip())
    except ValueError:
        return None


def _parse_workspace_id(raw: str):
    parsed = parse_id(raw)
    if parsed is None:
        raise errors.ValidationFailed.for_fields({SCOPE_HEADER: "Use a workspace id or 'personal'."})
    return parsed


def resolve_active_space(user, header: str | None) -> ActiveSpace:
    if header is None:
        wanted = STORED
    elif header.strip().lower() == "personal":
        wanted = None
    else:
        wanted = _parse_workspace_id(header)
    spaces, stored_id = _candidates(user, wanted)
    personal = next((s for s in spaces if s.kind == Space.Kind.PERSONAL), None) or space_ensure_personal(user=user)
    workspace = next((s for s in spaces if s.kind != Space.Kind.PERSONAL), None)
    if workspace is not None and workspace.member_role is not None:
        return ActiveSpace(space=workspace, role=workspace.member_role)
    if header is not None and wanted is not None:
        raise errors.NoSuchWorkspace()
    # Stored, but the user is no longer a member (the workspace came back without a role) or the
    # workspace was deleted (its id came back, the workspace did not).
    stale = workspace.pk if workspace is not None else stored_id
    if stale is not None:
        # Only if it still holds that workspace: a PATCH /scope that stored another one since
        # this request read it must not be undone.
        ActiveScope.objects.filter(user_id=user.pk, workspace_id=stale).update(workspace=None)
        return ActiveSpace(space=personal, role=Role.OWNER, notice=FALLBACK_NOTICE)
    return ActiveSpace(space=personal, role=Role.OWNER)


def space_for_request(request) -> ActiveSpace:
    """The active space of an authenticated API request (resolved once, cached on the request).

    Between requests of one account it is remembered while the account's context stamp holds
    (``synchronex/api/stamps.py``), except a fallback that carries a notice. The value is shared
    by those requests: nothing may change it (the space is only read, and written through
    services that load their own rows)."""
    cached = getattr(request, "_active_space", None)
    if cached is None:
        header = request.META.get(SCOPE_META)
        cached = stamps.remembered(
            request,
            ("space", header),
            lambda: resolve_active_space(request.user, header),
            keep=lambda active: active.notice is None,
        )
        request._active_space = cached
    return cached


def workspaces_for_user(user):
    """The workspaces a user belongs to, with their role, newest first."""
    return (
        Membership.objects.filter(user=user)
        .exclude(space__kind=Space.Kind.PERSONAL)
        .select_related("space")
        .order_by("-space__created_at", "space_id")  # the id breaks ties, so pages neither repeat nor skip
    )


def workspace_members(space: Space):
    """The memberships of a workspace with their users, in joining order (ties by user id, so pages
    never overlap)."""
    return Membership.objects.filter(space=space).select_related("user").order_by("created_at", "user_id")


def workspace_membership(*, user, workspace_id) -> Membership:
    """The caller's membership of a workspace (its id as ``parse_id`` reads one), or NOT_FOUND
    (unknown, malformed and foreign look the same)."""
    pk = parse_id(workspace_id)
    membership = None
    if pk is not None:
        membership = (
            Membership.objects.filter(user=user, space_id=pk)
            .exclude(space__kind=Space.Kind.PERSONAL)
            .select_related("space__owner")
            .first()
        )
    if membership is None:
        raise errors.NoSuchWorkspace()
    return membership
