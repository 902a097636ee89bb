"""``GET /api/v1/sessions``: the MCP sessions of the active scope."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from synchronex.api.pagination import PAGE_PARAMETERS, Page
from synchronex.api.views import ApiView

from ..selectors import session_list
from .serializers import SessionPageSerializer, SessionSerializer


class SessionListView(ApiView):
    required_scopes = {"GET": "memory:read"}

    @extend_schema(
        tags=["sessions"],
        summary="List MCP sessions",
        description="Sessions AI clients registered over MCP in the active scope, newest first (open and ended).",
        parameters=PAGE_PARAMETERS,
        responses={200: SessionPageSerializer},
    )
    def get(self, request):
        active = self.active
        page = Page.from_request(request)
        body = page.of(session_list(space=active.space), SessionSerializer)
        body["scope"] = active.scope
        return Response(body)
