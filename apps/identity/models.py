"""The Identity Kernel (one layer per space) and its revisions."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.identity.layers import SECTIONS
from apps.scopes.models import Space


class Kernel(models.Model):
    """One space's kernel layer, with its injection block cached until the layer changes.

    ``origin_id`` is the id the layer had in the system it was imported from (MIF), set on every
    restored layer but the space's own; the export uses it, API responses never show it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    origin_id = models.UUIDField(null=True, blank=True, editable=False)
    space = models.OneToOneField(Space, on_delete=models.CASCADE, related_name="kernel")
    # Each section is null when unset; a set section is stored normalised (no empty values).
    identity = models.JSONField(null=True, blank=True)
    products = models.JSONField(null=True, blank=True)
    constraints = models.JSONField(null=True, blank=True)
    model_preferences = models.JSONField(null=True, blank=True)
    version = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    # When this layer was last written here by a MIF import, else when it was made here: an import
    # keeps the record's own ``created_at`` and ``updated_at``, so ``since=`` exports also look at
    # this stamp (``apps.memory.mif.export``). Rows older than the column got its migration's time.
    stored_at = models.DateTimeField(default=timezone.now, editable=False)
    # The cached rendering of this layer alone (the effective kernel of the personal scope).
    # ``block_key`` names what it was rendered from (renderer and layer versions), so a stale
    # cache is recognisable; see ``services.block_key``. A section changed without a new version
    # (plain SQL) gets one from a trigger (migration ``identity.0006``).
    injection_block = models.TextField(blank=True, default="")
    injection_tokens = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    block_key = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(injection_tokens__lte=500), name="kernel_block_within_ceiling"),
            models.UniqueConstraint(
                fields=["space", "origin_id"],
                condition=models.Q(origin_id__isnull=False),
                name="kernel_origin_unique_per_space",
            ),
        ]

    def __str__(self) -> str:
        return f"Kernel of {self.space} (v{self.version})"

    def sections(self) -> dict:
        """The layer as a kernel dict (the four sections)."""
        return {name: getattr(self, name) for name in SECTIONS}


class KernelRevision(models.Model):
    """A snapshot of a kernel layer after one successful write, and who made it."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kernel = models.ForeignKey(Kernel, on_delete=models.CASCADE, related_name="revisions")
    version = models.PositiveIntegerField()
    snapshot = models.JSONField()
    # The credential that wrote it: "api_key:<uuid>", "oauth:<...>" — kept even if the user goes.
    actor = models.CharField(max_length=200)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="kernel_revisions"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-version"]
        constraints = [
            models.UniqueConstraint(fields=["kernel", "version"], name="kernelrevision_unique_version"),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="kernelrevision_version_positive"),
        ]
        # Every kernel's revisions in the admin's order (Meta.ordering, then the id the admin adds
        # to make it total), without a sort of the table.
        indexes = [models.Index(fields=["-version", "-id"], name="kernelrevision_version")]

    def __str__(self) -> str:
        return f"{self.kernel} revision {self.version}"


class EffectiveBlock(models.Model):
    """The cached injection block of one member's effective kernel in one workspace.

    A workspace scope's effective kernel merges the member's personal layer under the workspace
    layer, so its block differs per member. ``block_key`` names both layers it was rendered from,
    by id and version (``services.effective_block_key``): a read whose layers have moved, or been
    deleted and written anew, re-renders it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="effective_blocks")
    # Deleting the user deletes the cached rendering of their personal layer with them.
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="effective_blocks")
    block_key = models.CharField(max_length=64)
    injection_block = models.TextField(blank=True, default="")
    injection_tokens = models.PositiveIntegerField(default=0)
    truncated = models.BooleanField(default=False)
    rendered_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["space", "user"], name="effectiveblock_one_per_member"),
            models.CheckConstraint(condition=models.Q(injection_tokens__lte=500), name="effectiveblock_within_ceiling"),
        ]

    def __str__(self) -> str:
        return f"Effective block of {self.user_id} in {self.space_id} ({self.block_key})"
