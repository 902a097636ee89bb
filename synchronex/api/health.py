"""``GET /healthz``: can we reach the database, the cache and the broker? 200 or 503.

It answers in bounded time also when a server hangs (accepts connections and never answers: a
stopped process, a host gone silent), not only when one refuses:

- a round trip on a PostgreSQL connection (the database, the embedded cache and broker) gets
  ``HEALTH_CHECK_TIMEOUT_SECONDS``; past it the connection's socket is shut down, so the read
  blocked on it returns and the driver fails (Django replaces the connection after the request).
  A ``statement_timeout`` would not do: a hung server never enforces it. Connecting is bounded by
  ``DB_CONNECT_TIMEOUT``. Ordinary requests on a hung database are bounded by TCP keepalives and
  ``tcp_user_timeout`` (a silent host, see settings) and gunicorn's worker timeout (a stopped
  process whose kernel still acknowledges).
- Redis answers within socket timeouts: the cache's own (2 s); the broker's, for this check, the
  check's budget.
- a check whose server already failed in this request is not run again (the embedded cache and
  broker live in the database; the cache and broker share ``REDIS_URL``): it is reported
  unavailable at once, so a hung server costs its timeout once.

``HealthProbeMiddleware`` answers it before Django checks the Host header: load balancers probe
instances by address, which ``ALLOWED_HOSTS`` does not list.
"""

from __future__ import annotations

import functools
import logging
import uuid
from urllib.parse import parse_qsl, urlsplit

from django.conf import settings
from django.core.cache import cache, caches
from django.db import connection
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from synchronex.api import errors
from synchronex.api.cache import PostgresCache
from synchronex.api.serializers import ErrorSerializer
from synchronex.api.views import PublicView
from synchronex.deadline import Deadline

logger = logging.getLogger("synchronex.health")
# A health answer is about this instant: a cache between the probe and the instance must not
# answer for it (an old 200 hiding an outage, or an old 503 keeping a recovered instance out).
NO_STORE = "no-store"


def _deadline(fileno: int) -> Deadline:
    """The check's budget for a round trip on the PostgreSQL connection with socket ``fileno``."""
    deadline = Deadline(settings.HEALTH_CHECK_TIMEOUT_SECONDS)
    deadline.watch_fileno(fileno)
    return deadline


def _check_database() -> None:
    with connection.cursor() as cursor, _deadline(connection.connection.pgconn.socket):
        cursor.execute("SELECT 1")


def _check_cache() -> None:
    key = f"healthz:{uuid.uuid4().hex}"
    cache.set(key, 1, 10)
    if cache.get(key) != 1:
        raise RuntimeError("cache did not return what was stored")
    cache.delete(key)


def _check_broker() -> None:
    from synchronex.celery import app, uses_database_broker

    if uses_database_broker():  # kombu's SQLAlchemy transport "connects" without a round trip
        engine = _database_broker_engine(app.conf.broker_url)
        with engine.connect() as conn, _deadline(conn.connection.dbapi_connection.pgconn.socket):
            conn.exec_driver_sql("SELECT 1")
        return
    budget = settings.HEALTH_CHECK_TIMEOUT_SECONDS
    timeouts = {"socket_timeout": budget, "socket_connect_timeout": budget}
    with app.connection_for_write(transport_options=timeouts) as conn:
        conn.ensure_connection(max_retries=1, timeout=budget)  # Redis: the channel PINGs


@functools.lru_cache(maxsize=4)
def _database_broker_engine(url: str):
    """An engine on the embedded broker's database (its URL, its driver) that opens a connection
    per check: nothing pooled to go stale, and connecting bounded like Django's connections."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    target = make_url(url.split("+", 1)[1])  # sqla+postgresql+psycopg://… is postgresql+psycopg://…
    connect_args = {}
    if "connect_timeout" not in target.query:
        connect_args["connect_timeout"] = settings.DATABASES["default"]["OPTIONS"]["connect_timeout"]
    return create_engine(target, poolclass=NullPool, connect_args=connect_args)


def _address(url: str) -> tuple[str, str]:
    """A URL's server: host and port (from the query string too, where the embedded broker's are)."""
    try:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        return query.get("host") or parts.hostname or "localhost", str(query.get("port") or parts.port or "")
    except ValueError:
        return url, ""


def _servers() -> dict[str, tuple[str, str]]:
    """The server each check talks to."""
    from synchronex.celery import app

    database = (connection.settings_dict["HOST"] or "localhost", str(connection.settings_dict["PORT"] or "5432"))
    if isinstance(caches["default"], PostgresCache):
        cache_server = database
    else:
        cache_server = _address(str(settings.CACHES["default"]["LOCATION"]))
    return {"database": database, "cache": cache_server, "broker": _address(app.conf.broker_url)}


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
            (503, "application/json"): OpenApiResponse(
                ErrorSerializer,
                description="A backing service is unavailable (SERVICE_UNAVAILABLE, `details.checks`); "
                "`Retry-After` says how many seconds to wait.",
            ),
        },
    )
    def get(self, request):
        results, servers, failed = {}, _servers(), set()
        for name, check in CHECKS.items():
            if servers.get(name) in failed:  # its server just failed another check: not again
                logger.warning("health check %s not run: its server failed another check", name)
                results[name] = "unavailable"
                continue
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # any failure means "down"; the reason goes to the log only
                logger.warning("health check %s failed: %s", name, exc.__class__.__name__)
                results[name] = "unavailable"
                failed.add(servers.get(name))
        if any(value != "ok" for value in results.values()):
            down = ", ".join(name for name, value in results.items() if value != "ok")
            raise errors.ServiceUnavailable(
                f"Unavailable: {down}.", details={"checks": results}, headers={"Cache-Control": NO_STORE}
            )
        return Response({"status": "ok", "checks": results}, headers={"Cache-Control": NO_STORE})


class HealthProbeMiddleware:
    """Answers ``GET``/``HEAD /healthz`` before CommonMiddleware validates the Host header, which
    refused (400, and a warning from ``django.security.DisallowedHost``) a load balancer probing the
    instance by address. Placed after the request id and SecurityMiddleware (their headers still
    apply, and ``/healthz`` is exempt from its HTTPS redirect); every other request, and other
    methods on ``/healthz``, go on through the full stack and its host validation."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.view = HealthView.as_view()

    def __call__(self, request):
        if request.path_info != "/healthz" or request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        response = self.view(request)
        response.render()  # the handler renders what a view returns, not what a middleware does
        return response
