"""Reads for the connected-apps page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.contrib.postgres.aggregates import ArrayAgg
from django.core.paginator import Page, Paginator
from django.db.models import Max, Q
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_refresh_token_model,
    refresh_token_expire_timedelta,
)

from apps.oauth.models import AppUsage
from synchronex.api.scopes import SCOPES


@dataclass(frozen=True)
class ConnectedApp:
    """One app the user has live tokens for."""

    application: object
    scopes: list[str]
    last_used_at: datetime | None
    authorized_at: datetime

    @property
    def name(self) -> str:
        return self.application.name or f"Unnamed app {self.application.client_id[:8]}…"

    @property
    def redirect_hosts(self) -> list[str]:
        return sorted({urlsplit(uri).netloc for uri in self.application.redirect_uris.split()})

    @property
    def scope_descriptions(self) -> list[tuple[str, str]]:
        return [(scope, SCOPES.get(scope, scope)) for scope in self.scopes]


def connected_apps(*, user, page=1, per_page: int = 50) -> Page:
    """One page (``page``: a number, as ``Paginator.get_page`` reads one) of the apps holding a
    usable access token or refresh token of ``user``, most recently authorised first, as
    ``ConnectedApp``s. Grouped in the database: a page reads its own apps, not every token."""
    now = timezone.now()
    refresh = get_refresh_token_model().objects.filter(user=user, revoked__isnull=True, access_token__isnull=False)
    expire_delta = refresh_token_expire_timedelta()
    if expire_delta:
        refresh = refresh.filter(access_token__expires__gt=now - expire_delta)
    # An access token counts while it is live, or while its app holds a live refresh token.
    counted = get_access_token_model().objects.filter(user=user, application__isnull=False)
    counted = counted.filter(Q(expires__gt=now) | Q(application_id__in=refresh.values("application_id")))
    grouped = (
        counted.values("application_id")
        .annotate(authorized_at=Max("created"), scopes=ArrayAgg("scope", distinct=True))
        .order_by("-authorized_at", "application_id")
    )
    shown = Paginator(grouped, per_page).get_page(page)
    rows = list(shown.object_list)
    app_ids = [row["application_id"] for row in rows]
    applications = get_application_model().objects.in_bulk(app_ids)
    usage = dict(
        AppUsage.objects.filter(user=user, application_id__in=app_ids).values_list("application_id", "last_used_at")
    )
    order = list(SCOPES)
    shown.object_list = [
        ConnectedApp(
            application=applications[row["application_id"]],
            scopes=sorted(
                {scope for granted in row["scopes"] for scope in granted.split()},
                key=lambda s: order.index(s) if s in order else len(order),
            ),
            last_used_at=usage.get(row["application_id"]),
            authorized_at=row["authorized_at"],
        )
        for row in rows
    ]
    return shown
