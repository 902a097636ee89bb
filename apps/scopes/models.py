"""Spaces: every piece of memory belongs to exactly one."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models


class Space(models.Model):
    """A personal space (one per user) or a team/agency workspace."""

    class Kind(models.TextChoices):
        PERSONAL = "personal", "Personal"
        TEAM = "team", "Team"
        AGENCY = "agency", "Agency"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField(max_length=200)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="owned_spaces")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner"], condition=models.Q(kind="personal"), name="space_one_personal_per_user"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=["personal", "team", "agency"]), name="space_kind_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"

    @property
    def scope_name(self) -> str:
        """The ``scope`` value memory responses carry."""
        return self.kind
