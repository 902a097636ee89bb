from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from apps.scopes.api.serializers import ScopeSerializer
from synchronex.api.views import ApiView


class ScopeView(ApiView):
    """The caller's active scope."""

    required_scopes = {"GET": "memory:read"}

    @extend_schema(tags=["scope"], summary="Get the active scope", responses=ScopeSerializer)
    def get(self, request):
        active = self.active
        workspace = None
        if active.space.kind != "personal":
            workspace = {
                "id": active.space.id,
                "name": active.space.name,
                "kind": active.space.kind,
                "role": active.role,
            }
        data = {
            "workspace_id": workspace["id"] if workspace else None,
            "scope": active.scope,
            "workspace": workspace,
            "available": [],
        }
        return Response(ScopeSerializer(data).data)
