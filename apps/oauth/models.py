"""What the oauth app stores beside django-oauth-toolkit's own tables."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from oauth2_provider.settings import oauth2_settings


class AppUsage(models.Model):
    """When a user's tokens for one third-party app were last used on the API."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oauth_app_usages")
    application = models.ForeignKey(
        oauth2_settings.APPLICATION_MODEL, on_delete=models.CASCADE, related_name="synchronex_usages"
    )
    last_used_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "application"], name="oauth_app_usage_unique")]

    def __str__(self) -> str:
        return f"{self.application} used by {self.user} at {self.last_used_at:%Y-%m-%d %H:%M}"
