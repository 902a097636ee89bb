"""Periodic housekeeping of OAuth rows."""

from __future__ import annotations

from celery import shared_task
from oauth2_provider.models import clear_expired


@shared_task(name="apps.oauth.tasks.oauth_tokens_prune", ignore_result=True)
def oauth_tokens_prune() -> None:
    """Delete what django-oauth-toolkit no longer needs (its ``cleartokens``): expired codes,
    expired access tokens without a refresh token, and refresh tokens past their lifetime. Revoked
    refresh tokens stay until then: a replay of one is what revokes its whole chain."""
    clear_expired()
