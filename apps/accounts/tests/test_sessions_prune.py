"""Beat deletes expired sign-in sessions (what Django's ``clearsessions`` does); live ones stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from apps.accounts.tasks import sessions_prune
from apps.oauth.tests.helpers import login

pytestmark = pytest.mark.django_db(transaction=True)


def test_expired_sessions_go_and_live_ones_stay(base_url, person, settings):
    live, ended = login(base_url, person.email), login(base_url, person.email)
    ended_key = ended.cookies[django_settings.SESSION_COOKIE_NAME]
    Session.objects.filter(session_key=ended_key).update(expire_date=timezone.now() - timedelta(seconds=1))

    assert settings.CELERY_BEAT_SCHEDULE["sessions-prune"]["task"] == sessions_prune.name
    sessions_prune()

    assert not Session.objects.filter(session_key=ended_key).exists()
    assert live.get(f"{base_url}/settings/keys", allow_redirects=False, timeout=30).status_code == 200
