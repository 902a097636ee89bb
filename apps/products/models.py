"""Product state: one row per product of a space (SPEC §5)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apps.scopes.models import Space

NAME_MAX = 100


class ProductState(models.Model):
    """The living state of one product: status, what works, what is blocked, the handoff.

    ``origin_id`` is the id the product state had in the system it was imported from (MIF), set
    on every restored row (its own id comes from the space, never from other spaces' ids);
    exports and id lookups in the space use it, API responses show the row's own ``id``.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        BLOCKED = "blocked", "Blocked"
        SHIPPED = "shipped", "Shipped"
        ARCHIVED = "archived", "Archived"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    origin_id = models.UUIDField(null=True, blank=True, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="products")
    # Original spelling, trimmed; matched case-insensitively through the unique key below.
    name = models.CharField(max_length=NAME_MAX)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    what_works = models.JSONField(default=list, blank=True)
    what_is_blocked = models.JSONField(default=list, blank=True)
    open_questions = models.JSONField(default=list, blank=True)
    next_session_starts_here = models.TextField(blank=True, default="")
    last_session_summary = models.TextField(blank=True, default="")
    # The summary and URL of the product's entry in the kernel, as the last kernel write (or
    # consolidation) recorded them (blank: none, or an entry the owner removed), so that they come
    # back when the product returns to the kernel's ≤ 10 most recently active
    # (apps.memory.consolidation_steps, step 4). Not part of the state or its ETag.
    kernel_summary = models.TextField(blank=True, default="")
    kernel_url = models.TextField(blank=True, default="")
    # The ETag: bumped by every write that changes the state.
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When this row was last written here by a MIF import, else when it was made here: an import
    # keeps the record's own ``created_at`` and ``updated_at``, so ``since=`` exports also look at
    # this stamp (``apps.memory.mif.export``). Rows older than the column got its migration's time.
    stored_at = models.DateTimeField(default=timezone.now, editable=False)
    # Any activity naming the product (state write, decision) moves it to the top of lists.
    last_activity_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-last_activity_at", "id"]
        constraints = [
            models.UniqueConstraint(Lower("name"), "space", name="product_name_unique_ci_per_space"),
            models.UniqueConstraint(
                fields=["space", "origin_id"],
                condition=models.Q(origin_id__isnull=False),
                name="product_origin_unique_per_space",
            ),
            models.CheckConstraint(condition=~models.Q(name=""), name="product_name_not_empty"),
            models.CheckConstraint(
                condition=models.Q(status__in=["active", "paused", "blocked", "shipped", "archived"]),
                name="product_status_valid",
            ),
            models.CheckConstraint(condition=models.Q(version__gte=1), name="product_version_positive"),
        ]
        indexes = [models.Index(fields=["space", "-last_activity_at"], name="product_space_activity")]

    def __str__(self) -> str:
        return self.name
