"""Views that exist only in tests, to exercise the shared API plumbing on its own."""

from __future__ import annotations

from django.core.cache import cache
from django.db import OperationalError
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from synchronex.api.pagination import PAGE_PARAMETERS, Page
from synchronex.api.serializers import StrictSerializer
from synchronex.api.views import ApiView


class EchoBody(StrictSerializer):
    text = serializers.CharField(max_length=20)
    count = serializers.IntegerField(required=False, min_value=0)


class EchoView(ApiView):
    """POST validates and echoes; each real execution bumps a counter (to prove replays skip the work)."""

    required_scopes = {"GET": "memory:read", "POST": "memory:write"}

    # The query parameters a view takes are the ones its schema lists (ApiView refuses others).
    @extend_schema(parameters=PAGE_PARAMETERS)
    def get(self, request):
        page = Page.from_request(request)
        items = list(range(45))
        return Response(page.envelope(page.slice(items), len(items)))

    @extend_schema(parameters=[OpenApiParameter("dry_run", bool), OpenApiParameter("x", str)])
    def post(self, request):
        body = EchoBody(data=request.data)
        body.is_valid(raise_exception=True)
        executions = cache.get_or_set(f"echo:{request.user.pk}", 0)
        cache.incr(f"echo:{request.user.pk}")
        response = Response({"echo": body.validated_data, "executions_before": executions}, status=201)
        # A header of the first answer that a replay repeats (``idempotency.REPLAYED_PREFIX``).
        response["X-Synchronex-Executions"] = str(executions)
        return response


class ProOnlyView(ApiView):
    required_scopes = {"GET": "costs:read"}
    required_tier = "pro"

    # A read that documents a query parameter and never looks at its query.
    @extend_schema(parameters=[OpenApiParameter("colour", str)])
    def get(self, request):
        return Response({"ok": True})


class BoomView(ApiView):
    required_scopes = {"GET": "memory:read", "POST": "memory:write"}

    def get(self, request):
        raise RuntimeError("secret internal detail")

    def post(self, request):
        raise OperationalError("connection refused")
