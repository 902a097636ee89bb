"""Periodic housekeeping of sign-in sessions."""

from __future__ import annotations

from importlib import import_module

from celery import shared_task
from django.conf import settings


@shared_task(name="apps.accounts.tasks.sessions_prune", ignore_result=True)
def sessions_prune() -> None:
    """Delete expired sessions, as ``manage.py clearsessions`` does: the database backend never
    deletes the row of a sign-in that ended by expiry rather than by signing out."""
    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
