"""Beat deletes OAuth rows past their lifetime (django-oauth-toolkit's ``clear_expired``); live
tokens, and revoked refresh tokens still within theirs, stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken, get_application_model

from apps.oauth.models import AppUsage
from apps.oauth.tasks import oauth_registrations_prune, oauth_tokens_prune
from apps.oauth.tests.helpers import obtain_tokens, refresh, register_client
from conftest import Api

Application = get_application_model()

pytestmark = pytest.mark.django_db(transaction=True)


def test_dormant_tokens_go_and_live_ones_stay(base_url, person, settings):
    app = register_client(base_url)
    _, dormant = obtain_tokens(base_url, person.email, client=app)
    dormant_ids = set(AccessToken.objects.filter(user=person).values_list("pk", flat=True))
    _, live = obtain_tokens(base_url, person.email, client=app)
    rotated = refresh(base_url, app["client_id"], live["refresh_token"])  # leaves a revoked refresh token
    assert rotated.status_code == 200, rotated.text
    lifetime = settings.OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"]
    AccessToken.objects.filter(pk__in=dormant_ids).update(expires=timezone.now() - timedelta(seconds=lifetime + 60))
    revoked_before = RefreshToken.objects.filter(revoked__isnull=False).count()

    assert settings.CELERY_BEAT_SCHEDULE["oauth-tokens-prune"]["task"] == oauth_tokens_prune.name
    oauth_tokens_prune()

    assert not AccessToken.objects.filter(pk__in=dormant_ids).exists()
    assert refresh(base_url, app["client_id"], dormant["refresh_token"]).status_code == 400
    assert RefreshToken.objects.filter(revoked__isnull=False).count() == revoked_before >= 1  # kept: replays revoke
    reader = Api(base_url, rotated.json()["access_token"])
    assert reader.get("/api/v1/memory/identity").status_code != 401


def test_an_apps_last_use_goes_with_its_last_token_and_then_the_client(base_url, person, settings):
    # A client that revoked its own pair (RFC 7009) kept its "last used" row for ever, and with it
    # the registration: nothing deleted the row, and the account could no longer disconnect the app.
    gone, gone_tokens = obtain_tokens(base_url, person.email)
    kept, kept_tokens = obtain_tokens(base_url, person.email)
    for tokens in (gone_tokens, kept_tokens):
        assert Api(base_url, tokens["access_token"]).get("/api/v1/scope").status_code == 200
    revoke = {"token": gone_tokens["refresh_token"], "client_id": gone["client_id"]}
    assert requests.post(f"{base_url}/api/oauth/revoke", data=revoke, timeout=30).status_code == 200
    lifetime = timedelta(seconds=settings.OAUTH2_PROVIDER["REFRESH_TOKEN_EXPIRE_SECONDS"])
    days = settings.OAUTH_UNUSED_CLIENT_DAYS
    Application.objects.filter(client_id__in=[gone["client_id"], kept["client_id"]]).update(
        created=timezone.now() - timedelta(days=days + 1)
    )

    oauth_tokens_prune()  # the revoked refresh token is kept within its lifetime: so is the last use
    oauth_registrations_prune()
    used = set(AppUsage.objects.filter(user=person).values_list("application__client_id", flat=True))
    assert used == {gone["client_id"], kept["client_id"]}

    RefreshToken.objects.filter(application__client_id=gone["client_id"]).update(
        revoked=timezone.now() - lifetime - timedelta(minutes=1)
    )
    oauth_tokens_prune()
    oauth_registrations_prune()

    used = set(AppUsage.objects.filter(user=person).values_list("application__client_id", flat=True))
    assert used == {kept["client_id"]}
    assert set(Application.objects.values_list("client_id", flat=True)) == {kept["client_id"]}
    assert Api(base_url, kept_tokens["access_token"]).get("/api/v1/scope").status_code == 200
