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


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    VIEWER = "viewer", "Viewer"


class Membership(models.Model):
    """A user's role in a workspace (team or agency space)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "user"], name="membership_unique_user"),
            models.CheckConstraint(
                condition=models.Q(role__in=["owner", "admin", "member", "viewer"]), name="membership_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.space_id} as {self.role}"


class ActiveScope(models.Model):
    """The workspace a user last chose as active scope (no row, or a null one: personal).

    The stored id outlives its workspace (no database constraint, nothing done on delete): a
    deleted workspace must not read as "personal", so the scoped accessor can tell the user it is
    no longer available and only then reset the setting (apps/scopes/selectors.py). Read
    ``workspace_id``; ``workspace`` raises once the workspace is gone.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="active_scope"
    )
    workspace = models.ForeignKey(
        Space, on_delete=models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id} → {self.workspace_id or 'personal'}"
