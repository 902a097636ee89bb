"""Storage for shared API plumbing."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class IdempotencyRecord(models.Model):
    """The first response to a POST sent with an ``Idempotency-Key`` (kept 24 hours)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_records")
    key = models.CharField(max_length=255)
    path = models.CharField(max_length=1024)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key", "path"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} {self.path}"

    @property
    def completed(self) -> bool:
        return self.status_code is not None


class ContextStamp(models.Model):
    """An account's context stamp (synchronex/api/stamps.py), kept by triggers (migration 0004).

    No foreign key: a row outlives its user, and rows are never deleted, so a missing row means
    that nothing an account's requests remember has changed since stamps began."""

    user_id = models.UUIDField(primary_key=True)
    stamp = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.user_id}: {self.stamp}"


class QuotaCount(models.Model):
    """An account's requests in its latest clock minute and UTC day: the quota on PostgreSQL
    (synchronex/api/quota_table.py; Redis keeps its own counters). ``minute`` and ``day`` are
    the windows' starts in Unix seconds.

    One row per account, so one upsert counts both windows. Unlogged (migration 0005): counters
    need speed, not crash durability, and a crash forgets them as a Redis restart would. No
    foreign key, like ContextStamp: a deleted account's row is a few bytes nobody reads."""

    user_id = models.UUIDField(primary_key=True)
    minute = models.BigIntegerField()
    minute_count = models.BigIntegerField()
    day = models.BigIntegerField()
    day_count = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.user_id}: {self.minute_count} this minute, {self.day_count} today"
