"""Users (email login, plan) and API keys."""

from __future__ import annotations

import hashlib
import uuid
from datetime import timedelta

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.emails import EMAIL_MAX, validate_account_email
from synchronex.api.scopes import api_key_allows
from synchronex.text import nfc


class Tier(models.TextChoices):
    FREE = "free", "Free"
    PRO = "pro", "Pro"
    TEAM = "team", "Team"
    ENTERPRISE = "enterprise", "Enterprise"


TIER_ORDER = [Tier.FREE, Tier.PRO, Tier.TEAM, Tier.ENTERPRISE]


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email: str, password: str | None = None, **fields):
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.model.normalize_username(self.normalize_email(email)), **fields)
        user.set_password(password)  # None gives an unusable password
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)

    def by_email(self, address: str):
        """The account with this address, typed in any case and either Unicode form: compared in
        the form addresses are stored in (``User.normalize_username``), never with ``iexact``,
        whose PostgreSQL ``UPPER()`` disagrees with Python's ``lower()`` (``ẞ``, ``İ``) and so
        missed accounts stored with them. Stored addresses are in that form (accounts.0003)."""
        return self.filter(email=self.model.normalize_username(address.strip()))

    def get_by_natural_key(self, username):
        return self.by_email(username).get()


class User(AbstractBaseUser, PermissionsMixin):
    """A person with an email login and a plan (tier)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Not an EmailField: its validator refuses a non-ASCII local part, which an account may have
    # (the one rule of ``apps.accounts.emails``), and so refused every save of such an account's page.
    email = models.CharField(max_length=EMAIL_MAX, unique=True, validators=[validate_account_email])
    name = models.CharField(max_length=200, blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.FREE)
    # Enterprise accounts carry their own limits; empty means the enterprise default, 0 admits no
    # request (ratelimit.limits_for).
    daily_limit = models.PositiveIntegerField(null=True, blank=True)
    minute_limit = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    class Meta:
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
            models.CheckConstraint(
                condition=models.Q(tier__in=["free", "pro", "team", "enterprise"]), name="user_tier_valid"
            ),
        ]

    def __str__(self) -> str:
        return self.email

    @classmethod
    def normalize_username(cls, username):
        """An address as accounts store it, NFC and lower case (``changepassword`` looks it up as
        typed; the API compares NFC). Django's NFKC would turn a full-width or ligature letter of an
        address ``create_api_key`` stored into its ASCII look-alike on any save of the admin's page."""
        return nfc(username).lower() if isinstance(username, str) else username

    def has_tier(self, required: str) -> bool:
        return TIER_ORDER.index(self.tier) >= TIER_ORDER.index(required)


KEY_PREFIX = "sx_live_"
DISPLAY_PREFIX_LENGTH = len(KEY_PREFIX) + 6
LAST_USED_RESOLUTION = timedelta(minutes=1)


def digest_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


class ApiKeyQuerySet(models.QuerySet):
    def live(self):
        return self.filter(revoked_at__isnull=True)


class ApiKey(models.Model):
    """An API key: only its SHA-256 digest and a short display prefix are stored."""

    class Scope(models.TextChoices):
        READ = "read", "Read"
        WRITE = "write", "Read and write"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=DISPLAY_PREFIX_LENGTH)
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(scope__in=["read", "write"]), name="apikey_scope_valid")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    # The credential protocol shared with OAuth tokens -------------------------------------------
    kind = "api_key"

    def allows(self, scope: str) -> bool:
        return api_key_allows(self.scope, scope)

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def is_expired(self, now=None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @property
    def actor(self) -> str:
        return f"api_key:{self.id}"
