"""Provider credentials a space brings for its own AI calls (SPEC §9)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Lower

from apps.scopes.models import Space

from .fields import EncryptedTextField
from .shapes import BASE_URL_MAX, SERVICES

LABEL_MAX = 100


class ByokCredential(models.Model):
    """One encrypted provider key of a space; only its hint and fingerprint are stored in clear."""

    Service = models.TextChoices("Service", [(s, s) for s in SERVICES])

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    space = models.ForeignKey(Space, on_delete=models.CASCADE, related_name="byok_credentials")
    service = models.CharField(max_length=32, choices=Service.choices)
    label = models.CharField(max_length=LABEL_MAX)
    # The key itself: a Fernet token in the database, plaintext only in memory.
    secret = EncryptedTextField()
    # Only for openai_compatible (checked below); empty for the named services.
    base_url = models.CharField(max_length=BASE_URL_MAX, blank=True, default="")
    key_hint = models.CharField(max_length=8)
    # HMAC-SHA256 of the key (settings.BYOK_FINGERPRINT_KEY): finds a duplicate without decrypting.
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint("space", "service", Lower("label"), name="byok_label_unique_per_service_ci"),
            models.UniqueConstraint(fields=["space", "fingerprint"], name="byok_secret_unique_per_space"),
            models.CheckConstraint(condition=models.Q(service__in=SERVICES), name="byok_service_valid"),
            models.CheckConstraint(condition=~models.Q(label=""), name="byok_label_not_empty"),
            models.CheckConstraint(
                condition=(models.Q(service="openai_compatible") & ~models.Q(base_url=""))
                | (~models.Q(service="openai_compatible") & models.Q(base_url="")),
                name="byok_base_url_only_for_openai_compatible",
            ),
        ]
        indexes = [models.Index(fields=["space", "service", "created_at"], name="byok_space_service")]

    def __str__(self) -> str:
        return f"{self.service}: {self.label} ({self.key_hint})"

    def __repr__(self) -> str:  # never the secret
        return f"<ByokCredential {self.id} {self.service} {self.label!r} {self.key_hint}>"
