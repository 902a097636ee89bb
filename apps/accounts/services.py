"""Writes and workflows for users and API keys."""

from __future__ import annotations

import base64
import re
import secrets
from datetime import datetime

from django.contrib.admin.models import LogEntry
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.accounts.models import DISPLAY_PREFIX_LENGTH, KEY_PREFIX, LAST_USED_RESOLUTION, ApiKey, User, digest_key
from apps.accounts.selectors import api_key_by_digest, api_key_statement
from apps.products.names import format_character_problem, has_control_character, line_break_problem, trim_name
from apps.scopes.models import Space
from apps.scopes.services import space_ensure_personal, spaces_lock_for_delete
from synchronex.api import errors
from synchronex.db.deadlocks import retry_deadlocks

KEY_PATTERN = re.compile(r"^sx_live_[A-Za-z0-9_-]{43}$")
KEY_NAME_CONTROL_CHARACTERS = "A key name may not contain control characters."
KEY_NAME_LENGTH = "Give the key a name of 1 to 100 characters."


def key_name_problem(name: str) -> str | None:
    """Why ``name`` (trimmed: ``trim_name``) may not name a key, or None. The rule of workspace and
    product names and BYOK labels: a name is shown on the keys page and in the admin, so no control
    character, no line separator, and nothing invisible or reordering ("invoice\u202efdp.exe" reads
    "invoiceexe.pdf"). The keys page, the admin and ``create_api_key`` all ask this one function."""
    if not name or len(name) > 100:
        return KEY_NAME_LENGTH
    if has_control_character(name):
        return KEY_NAME_CONTROL_CHARACTERS
    return line_break_problem("A key name", name) or format_character_problem("A key name", name)


@transaction.atomic
def user_create(*, email: str, password: str | None = None, tier: str = "free", **fields) -> User:
    """Create a user together with their personal space."""
    user = User.objects.create_user(email, password, tier=tier, **fields)
    space_ensure_personal(user=user)
    return user


@retry_deadlocks
def users_delete(*, users) -> None:
    """Delete the ``users`` (a queryset) with everything of theirs: the spaces they own and all
    their memory, keys, tokens and memberships.

    The spaces' consolidation locks and product rows are taken first (``spaces_lock_for_delete``),
    so the delete waits for a running consolidation rather than deadlocking with it, and a lock
    cycle still met is run again (``retry_deadlocks``; inside a caller's transaction, the admin's,
    the caller reruns the whole of it).

    CONFLICT if one of them wrote admin history: Django would delete those entries with their
    author, and they are the audit trail (the admin's delete page says so first; deactivate such
    an account instead).
    """
    if LogEntry.objects.filter(user__in=users.values("pk")).exists():
        raise errors.Conflict("An account that wrote admin history is deactivated, not deleted.")
    spaces_lock_for_delete(Space.objects.filter(owner__in=users.values("pk")).values_list("pk", flat=True))
    users.delete()


def generate_raw_key() -> str:
    """``sx_live_`` + 32 random bytes, base64url without padding (SPEC §2)."""
    return KEY_PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode("ascii")


@transaction.atomic
def api_key_create(
    *, user: User, name: str, scope: str = "read", expires_at: datetime | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the raw key, which is never stored and shown only now.
    A deactivated account gets none (CONFLICT): ``api_key_authenticate`` refuses its every key."""
    if not user.is_active:
        raise errors.Conflict(f"The account {user.email} is deactivated; reactivate it first.")
    name = trim_name(name or "")
    if problem := key_name_problem(name):
        raise errors.ValidationFailed.for_fields({"name": problem})
    if scope not in ApiKey.Scope.values:
        raise errors.ValidationFailed.for_fields({"scope": "Scope must be read or write."})
    if expires_at is not None and expires_at <= timezone.now():
        raise errors.ValidationFailed.for_fields({"expires_at": "The expiry must be in the future."})
    raw = generate_raw_key()
    key = ApiKey.objects.create(
        user=user,
        name=name,
        scope=scope,
        expires_at=expires_at,
        prefix=raw[:DISPLAY_PREFIX_LENGTH],
        digest=digest_key(raw),
    )
    return key, raw


def api_key_revoke(*, user: User, key_id) -> ApiKey:
    """Revoke one of the user's keys (idempotent); another user's key is NOT_FOUND."""
    key = ApiKey.objects.filter(user=user, pk=key_id).first()
    if key is None:
        raise errors.NotFound("No such API key.")
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
    return key


@transaction.atomic
def api_keys_revoke(*, keys) -> list[ApiKey]:
    """Revoke every live key of the queryset ``keys`` (the admin's selection, however large) in two
    statements, never one per key; returns the keys it revoked (locked first, so that a key revoked
    meanwhile by its owner is neither revoked again nor returned)."""
    live = list(ApiKey.objects.live().filter(pk__in=keys.values("pk")).select_for_update().only("pk", "name", "prefix"))
    ApiKey.objects.filter(pk__in=[key.pk for key in live]).update(revoked_at=timezone.now())
    return live


def api_key_lookup(raw_token: str) -> tuple[str, str, list, object] | None:
    """``(digest, sql, params, windows)`` of the lookup that authenticating ``raw_token`` runs for
    an API request, or None when it is no well-formed API key (and so is refused unread)
    (``synchronex/api/key_prefetch.py`` sends it early)."""
    if not KEY_PATTERN.match(raw_token):
        return None
    digest = digest_key(raw_token)
    return (digest, *api_key_statement(digest, counts=True))


def api_key_authenticate(*, raw_token: str, request=None) -> ApiKey:
    """Resolve a presented key to its live row, or raise UNAUTHORIZED / TOKEN_EXPIRED.

    The lookup is by SHA-256 digest on a unique index: the raw key is never compared, so its
    timing reveals nothing about stored keys. With ``request`` (an API request) the lookup also
    counts the request and reads the account's context stamp (see ``api_key_by_digest``).
    """
    if not KEY_PATTERN.match(raw_token):
        raise errors.Unauthorized("Malformed API key.")
    key = api_key_by_digest(digest_key(raw_token), request=request)
    if key is None or key.is_revoked or not key.user.is_active:
        raise errors.Unauthorized("Unknown or revoked API key.")
    now = timezone.now()
    if key.is_expired(now):
        raise errors.TokenExpired("This API key has expired; create a new one.")
    if key.last_used_at is None or now - key.last_used_at >= LAST_USED_RESOLUTION:
        # At most one write a minute per key, and never a lost race: the filter re-checks.
        ApiKey.objects.filter(pk=key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        key.last_used_at = now
    return key
