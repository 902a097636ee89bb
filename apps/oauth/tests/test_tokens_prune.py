"""Beat deletes OAuth rows past their lifetime (django-oauth-toolkit's ``clear_expired``); live
tokens, and revoked refresh tokens still within theirs, stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import AccessToken, RefreshToken

from apps.oauth.tasks import oauth_tokens_prune
from apps.oauth.tests.helpers import obtain_tokens, refresh, register_client
from conftest import Api

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
