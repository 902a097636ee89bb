"""``GET /healthz``: can we reach the database, the cache and the broker? 200 or 503."""

from __future__ import annotations

import logging
import uuid

from django.core.cache import cache
from django.db import connection
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from synchronex.api import errors
from synchronex.api.serializers import ErrorSerializer
from synchronex.api.views import PublicView

logger = logging.getLogger("synchronex.health")


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, 1, 10)
    if cache.get(key) != 1:
        raise RuntimeError("cache did not return what was stored")
    cache.delete(key)


def _check_broker() -> None:
    from synchronex.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


CHECKS = {"database": _check_database, "cache": _check_cache, "broker": _check_broker}


class HealthView(PublicView):
    @extend_schema(
        tags=["operations"],
        auth=[],
        summary="Health of the database, cache and broker",
        responses={
            (200, "application/json"): inline_serializer(
                "Health",
                {"status": serializers.CharField(), "checks": serializers.DictField(child=serializers.CharField())},
            ),
            (503, "application/json"): ErrorSerializer,
        },
    )
    def get(self, request):
        results = {}
        for name, check in CHECKS.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # any failure means "down"; the reason goes to the log only
                logger.warning("health check %s failed: %s", name, exc.__class__.__name__)
                results[name] = "unavailable"
        if any(value != "ok" for value in results.values()):
            down = ", ".join(name for name, value in results.items() if value != "ok")
            raise errors.ServiceUnavailable(f"Unavailable: {down}.", details={"checks": results})
        return Response({"status": "ok", "checks": results})
