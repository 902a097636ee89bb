"""Periodic housekeeping of the shared API plumbing."""

from __future__ import annotations

from celery import shared_task

from synchronex.api import idempotency


@shared_task(name="synchronex.api.tasks.idempotency_prune", ignore_result=True)
def idempotency_prune() -> int:
    """Delete stored idempotent responses past their 24 hours (they may hold deleted content)."""
    return idempotency.prune()
