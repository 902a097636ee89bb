"""Active scope and workspace management (SPEC §3)."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework.response import Response

from apps.scopes.api import serializers as s
from apps.scopes.models import Membership
from apps.scopes.selectors import (
    parse_id,
    resolve_active_space,
    workspace_members,
    workspace_membership,
    workspaces_for_user,
)
from apps.scopes.services import member_put_by_email, member_remove, scope_set, workspace_create
from synchronex.api.openapi import location_header
from synchronex.api.pagination import PAGE_PARAMETERS, Page
from synchronex.api.serializers import ErrorSerializer
from synchronex.api.views import ApiView

SCOPE_SET_RESULT = PolymorphicProxySerializer(
    component_name="ScopeSetResult",
    serializers=[s.ScopeSerializer, s.ScopeSetSerializer],
    resource_type_field_name=None,
)


# Path ids as the scope header takes them (urls.py says why they are strings).
SPELLINGS = "any case, with or without dashes or braces, as `X-Synchronex-Scope` takes it"
WORKSPACE_ID = OpenApiParameter(
    "workspace_id",
    OpenApiTypes.UUID,
    OpenApiParameter.PATH,
    description=f"The workspace's id ({SPELLINGS}). A workspace you are not a member of, or an id that is "
    "none, is NOT_FOUND.",
)
USER_ID = OpenApiParameter(
    "user_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description=f"The member's user id ({SPELLINGS})."
)


def _ref(membership: Membership) -> dict:
    space = membership.space
    return {"id": space.id, "name": space.name, "kind": space.kind, "role": membership.role}


def _workspace(membership: Membership) -> dict:
    space = membership.space
    return {**_ref(membership), "owner_email": space.owner.email, "created_at": space.created_at}


def _member(membership: Membership) -> dict:
    user = membership.user
    return {
        "user_id": user.id,
        "email": user.email,
        "name": user.name,
        "role": membership.role,
        "joined_at": membership.created_at,
    }


class ScopeView(ApiView):
    """The caller's active scope: read it, or store another one (per user, server-side)."""

    required_scopes = {"GET": "memory:read", "PATCH": "memory:write"}
    acts_on_space = frozenset({"GET"})  # PATCH names its workspace in the body

    def _payload(self, active) -> dict:
        available = [_ref(m) for m in workspaces_for_user(self.request.user)]
        workspace = None
        if not active.is_personal:
            workspace = {
                "id": active.space.id,
                "name": active.space.name,
                "kind": active.space.kind,
                "role": active.role,
            }
        return {
            "workspace_id": active.space.id if workspace else None,
            "scope": active.scope,
            "workspace": workspace,
            "available": available,
        }

    @extend_schema(tags=["scope"], summary="Get the active scope", responses=s.ScopeSerializer)
    def get(self, request):
        return Response(s.ScopeSerializer(self._payload(self.active)).data)

    @extend_schema(
        tags=["scope"],
        summary="Set the active scope",
        description="`workspace_id: null` selects the personal scope. A workspace you are not in is NOT_FOUND. "
        "Answers as GET does; an OAuth token with `memory:write` but not `memory:read` is answered only "
        "`workspace_id` and `scope` (the scope it set): reading the workspaces' names and roles needs "
        "`memory:read`.",
        request=s.ScopeUpdateSerializer,
        responses=SCOPE_SET_RESULT,
    )
    def patch(self, request):
        body = s.ScopeUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workspace_id = body.validated_data["workspace_id"]
        workspace = workspace_membership(user=request.user, workspace_id=workspace_id).space if workspace_id else None
        scope_set(user=request.user, workspace=workspace)
        active = resolve_active_space(request.user, None)
        if not request.auth.allows("memory:read"):
            # SPEC §2 gives reading the scope and workspaces to memory:read, and a write must not
            # read (as product state and kernel writes): the scope set, not its name, the
            # caller's role there or the other workspaces (``available``).
            written = {"workspace_id": None if active.is_personal else active.space.id, "scope": active.scope}
            return Response(s.ScopeSetSerializer(written).data)
        return Response(s.ScopeSerializer(self._payload(active)).data)


# Workspace management names its workspace in the path (or makes one): it acts on no active scope.
class WorkspaceListView(ApiView):
    required_scopes = {"GET": "memory:read", "POST": "memory:write"}
    api_key_only = frozenset({"POST"})  # workspace administration (synchronex/api/permissions.py)
    acts_on_space = False

    @extend_schema(
        tags=["workspaces"],
        operation_id="workspaces_list",
        summary="List your workspaces",
        parameters=PAGE_PARAMETERS,
        responses=s.WorkspacePageSerializer,
    )
    def get(self, request):
        page = Page.from_request(request)
        memberships, count = page.rows(workspaces_for_user(request.user).select_related("space__owner"))
        results = [_workspace(m) for m in memberships]
        return Response(page.envelope(s.WorkspaceSerializer(results, many=True).data, count))

    @extend_schema(
        tags=["workspaces"],
        summary="Create a workspace (team plan or above)",
        extensions={"x-required-tier": "team"},  # workspace_create checks the caller's plan
        request=s.WorkspaceCreateSerializer,
        parameters=[location_header("The workspace's URL: `/api/v1/workspaces/{id}`.")],
        responses={201: s.WorkspaceSerializer},
    )
    def post(self, request):
        body = s.WorkspaceCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workspace = workspace_create(owner=request.user, **body.validated_data)
        membership = Membership.objects.select_related("space__owner").get(space=workspace, user=request.user)
        location = reverse("workspace", kwargs={"workspace_id": workspace.pk})
        return Response(s.WorkspaceSerializer(_workspace(membership)).data, status=201, headers={"Location": location})


class WorkspaceDetailView(ApiView):
    required_scopes = {"GET": "memory:read"}
    acts_on_space = False

    @extend_schema(
        tags=["workspaces"],
        summary="A workspace and its first members",
        description=f"The workspace, its first {s.MEMBERS_INLINE} members in joining order (`members`) and how many "
        "it has (`member_count`); `GET /api/v1/workspaces/{id}/members` pages through them all.",
        parameters=[WORKSPACE_ID],
        responses=s.WorkspaceDetailSerializer,
    )
    def get(self, request, workspace_id):
        membership = workspace_membership(user=request.user, workspace_id=workspace_id)
        # A first page, counted with its rows (``Page.rows``): member_count never disagrees with it.
        members, count = Page(limit=s.MEMBERS_INLINE, offset=0).rows(workspace_members(membership.space))
        data = {**_workspace(membership), "members": [_member(m) for m in members], "member_count": count}
        return Response(s.WorkspaceDetailSerializer(data).data)


class MemberListView(ApiView):
    required_scopes = {"GET": "memory:read", "POST": "memory:write"}
    api_key_only = frozenset({"POST"})
    acts_on_space = False

    @extend_schema(
        tags=["workspaces"],
        operation_id="workspaces_members_list",
        summary="List a workspace's members",
        description="Every member, in joining order (ties by user id), a page at a time. Any member may read "
        "them (viewers too); a workspace you are not a member of is NOT_FOUND.",
        parameters=[WORKSPACE_ID, *PAGE_PARAMETERS],
        responses=s.MemberPageSerializer,
    )
    def get(self, request, workspace_id):
        page = Page.from_request(request)
        membership = workspace_membership(user=request.user, workspace_id=workspace_id)
        members, count = page.rows(workspace_members(membership.space))
        rows = [_member(m) for m in members]
        return Response(page.envelope(s.MemberSerializer(rows, many=True).data, count))

    @extend_schema(
        tags=["workspaces"],
        summary="Add a member, or change a member's role (owner/admin)",
        extensions={"x-required-tier": "team"},  # the owner's plan, checked by member management
        description=(
            "The user must already have an account (else NOT_FOUND; checked only after the caller's right to "
            "manage members, so others get FORBIDDEN either way). Only the owner makes admins or changes an "
            "admin's role. Answers 201 when added, 200 when the role changed or already was the one asked for "
            "(which any owner or admin may send, a retry included). TIER_REQUIRED while the "
            "workspace's owner is not on the team plan or above (reading, writing, removing members and "
            "leaving keep working)."
        ),
        request=s.MemberAddSerializer,
        parameters=[
            WORKSPACE_ID,
            location_header(
                "The membership's URL, `/api/v1/workspaces/{id}/members/{user_id}` (the one `DELETE` "
                "takes); only when the member was added.",
            ),
        ],
        responses={
            200: s.MemberSerializer,
            201: s.MemberSerializer,
            403: OpenApiResponse(
                ErrorSerializer,
                description="you are a member or viewer of the workspace (only its owner and admins manage "
                "members), or an admin making someone an admin or changing an admin's role (only the owner "
                "does) (FORBIDDEN)",
            ),
        },
    )
    def post(self, request, workspace_id):
        body = s.MemberAddSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        actor = workspace_membership(user=request.user, workspace_id=workspace_id)
        membership, created = member_put_by_email(actor_membership=actor, **body.validated_data)
        user = membership.user
        status = 201 if created else 200
        headers = {}
        if created:
            kwargs = {"workspace_id": membership.space_id, "user_id": user.id}
            headers["Location"] = reverse("workspace-member", kwargs=kwargs)
        return Response(s.MemberSerializer(_member(membership)).data, status=status, headers=headers)


class MemberDetailView(ApiView):
    required_scopes = {"DELETE": "memory:write"}
    api_key_only = frozenset({"DELETE"})
    acts_on_space = False

    @extend_schema(
        tags=["workspaces"],
        summary="Remove a member (owner/admin), or leave",
        parameters=[WORKSPACE_ID, USER_ID],
        responses={
            204: None,
            403: OpenApiResponse(
                ErrorSerializer,
                description="you remove someone else as a member or viewer of the workspace (only its owner and "
                "admins remove members; anyone may leave), or an admin as an admin (only the owner does) "
                "(FORBIDDEN)",
            ),
            409: OpenApiResponse(ErrorSerializer, description="The owner cannot be removed from their workspace."),
        },
    )
    def delete(self, request, workspace_id, user_id):
        actor = workspace_membership(user=request.user, workspace_id=workspace_id)
        member_remove(actor_membership=actor, user_id=parse_id(user_id))
        return Response(status=204)
