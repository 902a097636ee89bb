"""MCP sessions: one AI client's working session on a product, opened and closed over MCP."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from apps.products.models import ProductState
from apps.scopes.models import Space

SESSION_URL_MAX = 2_000
AGENT_NAME_MAX = 100
LABEL_MAX = 200
CLIENT_TYPE_MAX = 50
ENDED_BY_MAX = 100
ACTOR_MAX = 100


class McpSession(models.Model):
    """A session an AI client registered on a product; ending it writes the product's handoff."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="mcp_sessions")
    product = models.ForeignKey(ProductState, on_delete=models.CASCADE, related_name="mcp_sessions")
    # The member who opened it (kept when the account goes, for the workspace's history).
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="mcp_sessions"
    )
    # Which credential opened it: "api_key:<id>" or "oauth:<client_id>".
    actor = models.CharField(max_length=ACTOR_MAX)
    session_url = models.CharField(max_length=SESSION_URL_MAX, blank=True, default="")
    agent_name = models.CharField(max_length=AGENT_NAME_MAX, blank=True, default="")
    label = models.CharField(max_length=LABEL_MAX, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    client_type = models.CharField(max_length=CLIENT_TYPE_MAX, blank=True, default="")
    started_at = models.DateTimeField(default=timezone.now)
    # The latest time the client loaded the Identity Kernel for this session (get_identity_kernel)
    # while it was open: never after ended_at.
    kernel_loaded_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    summary = models.TextField(blank=True, default="")
    ended_by = models.CharField(max_length=ENDED_BY_MAX, blank=True, default="")
    decisions_captured = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-started_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True) | models.Q(ended_at__gte=models.F("started_at")),
                name="mcp_session_ends_after_start",
            ),
            # An ended session always has its summary and count; an open one has neither.
            models.CheckConstraint(
                condition=(
                    models.Q(ended_at__isnull=True, summary="", decisions_captured__isnull=True)
                    | (models.Q(ended_at__isnull=False, decisions_captured__isnull=False) & ~models.Q(summary=""))
                ),
                name="mcp_session_end_complete",
            ),
        ]
        indexes = [
            models.Index(fields=["space", "-started_at"], name="mcp_session_space_started"),
            # Every space's sessions in the admin's order (Meta.ordering), without a sort of the table.
            models.Index(fields=["-started_at", "id"], name="mcp_session_started"),
            models.Index(fields=["product", "-ended_at"], name="mcp_session_product_ended"),
        ]

    def __str__(self) -> str:
        return f"{self.label or self.agent_name or 'session'} on {self.product_id}"

    @property
    def is_open(self) -> bool:
        return self.ended_at is None
