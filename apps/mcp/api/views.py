"""``GET /api/v1/sessions``: the MCP sessions of the active scope."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from synchronex.api.pagination import Page
from synchronex.api.views import ApiView

from ..selectors import session_list
from .serializers import SessionPageSerializer, SessionSerializer


class SessionListView(ApiView):
    required_scopes = {"GET": "memory:read"}

    @extend_schema(
        tags=["sessions"],
        summary="List MCP sessions",
        description="Sessions AI clients registered over MCP in the active scope, newest first (open and ended).",
        parameters=[
            OpenApiParameter("limit", int, OpenApiParameter.QUERY, required=False, description="1–100, default 20."),
            OpenApiParameter("offset", int, OpenApiParameter.QUERY, required=False, description="≥ 0."),
        ],
        responses={200: SessionPageSerializer},
    )
    def get(self, request):
        active = self.active
        page = Page.from_request(request)
        sessions = session_list(space=active.space)
        count = sessions.count()
        rows = list(page.slice(sessions)) if page.offset < count else []
        body = page.envelope(SessionSerializer(rows, many=True).data, count)
        body["scope"] = active.scope
        return Response(body)
