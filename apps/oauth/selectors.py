"""Reads for the connected-apps page."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_refresh_token_model, refresh_token_expire_timedelta

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


def connected_apps(*, user) -> list[ConnectedApp]:
    """Apps holding a usable access token or refresh token of ``user``, most recent first."""
    now = timezone.now()
    refresh = get_refresh_token_model().objects.filter(user=user, revoked__isnull=True, access_token__isnull=False)
    expire_delta = refresh_token_expire_timedelta()
    if expire_delta:
        refresh = refresh.filter(access_token__expires__gt=now - expire_delta)
    live_ids = set(refresh.values_list("application_id", flat=True))
    tokens = (
        get_access_token_model()
        .objects.filter(user=user, application__isnull=False)
        .select_related("application")
        .order_by("-created")
    )
    by_app: dict[int, dict] = {}
    for token in tokens:
        if token.expires <= now and token.application_id not in live_ids:
            continue
        entry = by_app.setdefault(
            token.application_id, {"application": token.application, "scopes": set(), "authorized_at": token.created}
        )
        entry["scopes"].update(token.scope.split())
    usage = dict(
        AppUsage.objects.filter(user=user, application_id__in=by_app).values_list("application_id", "last_used_at")
    )
    order = list(SCOPES)
    return [
        ConnectedApp(
            application=entry["application"],
            scopes=sorted(entry["scopes"], key=lambda s: order.index(s) if s in order else len(order)),
            last_used_at=usage.get(app_id),
            authorized_at=entry["authorized_at"],
        )
        for app_id, entry in by_app.items()
    ]
