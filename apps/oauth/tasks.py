"""Periodic housekeeping of OAuth rows."""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.utils import timezone
from oauth2_provider.models import clear_expired

from apps.oauth.services import idle_app_usages_delete, unused_registrations_delete


@shared_task(name="apps.oauth.tasks.oauth_tokens_prune", ignore_result=True)
def oauth_tokens_prune() -> None:
    """Delete what django-oauth-toolkit no longer needs (its ``cleartokens``): expired codes,
    expired access tokens without a refresh token, and refresh tokens past their lifetime. Revoked
    refresh tokens stay until then: a replay of one is what revokes its whole chain. Then the
    "last used" of every app an account holds nothing of any more."""
    clear_expired()
    idle_app_usages_delete()


@shared_task(name="apps.oauth.tasks.oauth_registrations_prune", ignore_result=True)
def oauth_registrations_prune() -> int:
    """Delete clients registered over the open registration endpoint more than
    OAUTH_UNUSED_CLIENT_DAYS ago that nobody authorized or used (RFC 7591 §5 lets a server
    expire registrations): nothing else ever would, and anyone may register them."""
    cutoff = timezone.now() - timedelta(days=settings.OAUTH_UNUSED_CLIENT_DAYS)
    return unused_registrations_delete(registered_before=cutoff)
