"""Creating, deleting and using BYOK credentials. Nothing here logs, returns or raises with a key."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Case, IntegerField, Q, QuerySet, Value, When
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.models import TIER_ORDER
from apps.products.names import format_character_problem, has_control_character, trim_name
from apps.scopes.models import Space
from synchronex.api import errors
from synchronex.text import nfc

from .models import LABEL_MAX, ByokCredential
from .shapes import SERVICES, base_url_problem, key_problem

# The plan with BYOK (SPEC §2). Creating a credential needs it (apps/byok/api/views.py), and so does
# using one: ``usable_credentials``.
BYOK_TIER = "pro"
# A space's plan is its owner's (a workspace uses its owner's tier), read with the credentials.
_PLAN_HAS_BYOK = Q(space__owner__tier__in=TIER_ORDER[TIER_ORDER.index(BYOK_TIER) :])


def secret_fingerprint(secret: str) -> str:
    """HMAC-SHA256 of ``secret`` under ``settings.BYOK_FINGERPRINT_KEY`` (hex)."""
    key = settings.BYOK_FINGERPRINT_KEY.encode("utf-8")
    return hmac.new(key, secret.encode("utf-8"), hashlib.sha256).hexdigest()


def key_hint(secret: str) -> str:
    """``…`` and the last four characters: enough to recognise a key, useless to an attacker."""
    return "…" + secret[-4:]


def _validate(*, service: str, label: str, key: str, base_url: str | None) -> tuple[str, str]:
    problems: dict[str, str] = {}
    if service not in SERVICES:
        problems["service"] = f"Unknown service; use one of: {', '.join(SERVICES)}."
    # The product-name rule for invisible characters: trimmed at the ends, refused inside (naming
    # the character), so two labels that look the same are never two credentials of one service.
    label = trim_name(label or "")
    if not label:
        problems["label"] = "A label may not be blank."
    elif len(label) > LABEL_MAX:
        problems["label"] = f"A label has at most {LABEL_MAX} characters."
    elif has_control_character(label):
        problems["label"] = "A label may not contain control characters."
    elif problem := format_character_problem("A label", label):
        problems["label"] = problem
    if service in SERVICES and (problem := key_problem(service, key)):
        problems["key"] = problem
    base_url = (base_url or "").strip()
    if service == "openai_compatible":
        if not base_url:
            problems["base_url"] = "openai_compatible needs the base URL of the server."
        elif problem := base_url_problem(base_url):
            problems["base_url"] = problem
    elif base_url and service in SERVICES:
        problems["base_url"] = "Only openai_compatible credentials take a base URL."
    if problems:
        raise errors.ValidationFailed.for_fields(problems)
    return label, base_url


@transaction.atomic
def byok_credential_create(
    *, space: Space, service: str, label: str, key: str, base_url: str | None = None
) -> ByokCredential:
    """Store ``key`` encrypted. CONFLICT for a label already used for the service, for a key
    already stored in the space, and when the space holds ``BYOK_MAX_PER_SPACE`` credentials."""
    label, base_url = _validate(service=service, label=label, key=key, base_url=base_url)
    # Lock the space row: concurrent creates in one space queue here, so the count below
    # cannot be raced past the limit.
    Space.objects.select_for_update().filter(pk=space.pk).first()
    existing = ByokCredential.objects.filter(space=space)
    limit = settings.BYOK_MAX_PER_SPACE
    if existing.count() >= limit:
        raise errors.Conflict(
            f"This scope already holds the maximum of {limit} credentials; delete one first.",
            details={"limit": limit},
        )
    fingerprint = secret_fingerprint(key)
    if existing.filter(fingerprint=fingerprint).exists():
        raise errors.Conflict("This key is already stored in this scope.", details={"field": "key"})
    # Compared as the unique index compares, by PostgreSQL's lower(): ``iexact`` compares UPPER(),
    # which parts labels the index joins ('İnfra' and 'infra', refused then only by the index,
    # without naming the label) and joins labels it parts ('ſ' and 's').
    if existing.alias(label_key=Lower("label")).filter(service=service, label_key=Lower(Value(label))).exists():
        raise errors.Conflict(
            f"A credential for {service} labelled {label!r} already exists in this scope.", details={"field": "label"}
        )
    try:
        with transaction.atomic():
            return ByokCredential.objects.create(
                space=space,
                service=service,
                label=label,
                secret=key,
                base_url=base_url,
                key_hint=key_hint(key),
                fingerprint=fingerprint,
            )
    except IntegrityError:  # only reachable if a row appeared despite the lock
        raise errors.Conflict("This credential conflicts with one stored in this scope.") from None


@transaction.atomic
def byok_credential_delete(*, space: Space, credential_id: uuid.UUID | str) -> None:
    """Delete one credential of ``space``; NOT_FOUND for unknown ids and other spaces' ids."""
    try:
        credential_id = uuid.UUID(str(credential_id))
    except ValueError:
        raise errors.NotFound("No such credential in this scope.") from None
    deleted, _ = ByokCredential.objects.filter(space=space, id=credential_id).delete()
    if not deleted:
        raise errors.NotFound("No such credential in this scope.")


def usable_credentials(space: Space) -> QuerySet[ByokCredential]:
    """The credentials ``space`` may use for provider calls: all it stores while its plan (a
    workspace's: its owner's) has BYOK, none below it.

    The one plan rule of every reader of keys for calls (``byok_credential_for``,
    ``byok_secret_for_endpoint``). Below the plan a space is served as if it stored no credential,
    but keeps them: they stay listable and deletable on any plan (the API), MIF export still
    redacts them, and an upgrade brings them back into use. The owner's tier is read in the same
    statement, so a plan change counts from the next call.
    """
    return ByokCredential.objects.filter(_PLAN_HAS_BYOK, space=space)


def byok_credential_for(*, space: Space, services: tuple[str, ...] | list[str]) -> ByokCredential | None:
    """The space's usable credential for the first of ``services`` it has (newest of that
    service), marked used."""
    preference = Case(*(When(service=s, then=Value(i)) for i, s in enumerate(services)), output_field=IntegerField())
    credential = (
        usable_credentials(space).filter(service__in=services).order_by(preference, "-created_at", "-id").first()
    )
    if credential is None:
        return None
    now = timezone.now()
    ByokCredential.objects.filter(pk=credential.pk).update(last_used_at=now)
    credential.last_used_at = now
    return credential


def byok_secret_for(*, space: Space, service: str) -> str | None:
    """The plaintext key the space stored for ``service`` (its newest), or None.

    For the service's own provider calls only; updates ``last_used_at``. Never log the result.
    """
    credential = byok_credential_for(space=space, services=(service,))
    return credential.secret if credential else None


OPENAI_API_HOST = "api.openai.com"


def _endpoint(url: str) -> tuple[str, str, int | None, str] | None:
    """A comparable form of an API base URL: scheme, host, port, path without ``/`` or ``/v1``; in
    NFC, as a credential's base URL is stored (one stored before, or a space's setting, may not be)."""
    try:
        parts = urlsplit(nfc(url.strip()))
        port = parts.port or {"https": 443, "http": 80}.get(parts.scheme.lower())
    except ValueError:
        return None
    path = parts.path.rstrip("/")
    path = path[: -len("/v1")] if path.endswith("/v1") else path
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, path.rstrip("/")


def byok_secret_for_endpoint(*, space: Space, base_url: str) -> str | None:
    """The key the space stored for an OpenAI-compatible server at ``base_url``, or None.

    OpenAI's own API (https://api.openai.com) takes the space's ``openai`` credential; any
    server takes an ``openai_compatible`` credential stored for that same base URL. A key is
    never sent to another server than the one it belongs to. Updates ``last_used_at``. None
    while the space's plan lacks BYOK (``usable_credentials``).
    """
    target = _endpoint(base_url)
    if target is None:
        return None
    if target[:2] == ("https", OPENAI_API_HOST) and (secret := byok_secret_for(space=space, service="openai")):
        return secret
    stored = (
        usable_credentials(space)
        .filter(service="openai_compatible")
        .only("id", "base_url")
        .order_by("-created_at", "-id")
    )
    match = next((credential.id for credential in stored if _endpoint(credential.base_url) == target), None)
    if match is None:
        return None
    now = timezone.now()
    ByokCredential.objects.filter(pk=match).update(last_used_at=now)
    return ByokCredential.objects.get(pk=match).secret


def byok_withheld_for_endpoint(*, space: Space, base_url: str) -> bool:
    """Whether ``space`` stores a key for the server at ``base_url`` (matched as
    ``byok_secret_for_endpoint`` matches) that its plan does not let it use. The embeddings provider
    then leaves a server set for the space alone instead of calling it without its key (a 401 per
    search). Never decrypts."""
    target = _endpoint(base_url)
    if target is None:
        return False
    withheld = ByokCredential.objects.filter(space=space).exclude(_PLAN_HAS_BYOK)
    if target[:2] == ("https", OPENAI_API_HOST) and withheld.filter(service="openai").exists():
        return True
    urls = withheld.filter(service="openai_compatible").values_list("base_url", flat=True)
    return any(_endpoint(url) == target for url in urls)
