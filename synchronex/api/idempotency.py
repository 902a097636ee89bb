"""``Idempotency-Key`` for POSTs (SPEC §1).

The same key from the same account on the same path within 24 hours returns the stored first
response (status, body and the headers that matter) without doing the work again. The same key
with a different body is a CONFLICT, and so is a retry that arrives while the first request is
still running. The first request claims the key with a unique row before doing any work, so
concurrent retries can never both run. Bodies are compared byte for byte (keyed SHA-256). Responses
with status 5xx or 429 are not kept: the client may retry those for real.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from synchronex.api import errors
from synchronex.api.models import IdempotencyRecord

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
REPLAYED_HEADERS = ("Content-Type", "ETag", "Location", "Content-Disposition")


class Replay(Exception):
    """Raised to short-circuit a request whose stored response is sent instead."""

    def __init__(self, record: IdempotencyRecord):
        self.record = record

    def response(self) -> HttpResponse:
        response = HttpResponse(bytes(self.record.response_body or b""), status=self.record.status_code)
        for name, value in self.record.response_headers.items():
            response[name] = value
        response["Idempotent-Replayed"] = "true"
        return response


def body_fingerprint(body: bytes) -> str:
    """A keyed digest of the body: bodies may hold secrets (BYOK keys), so no bare hash is kept."""
    return hmac.new(settings.SECRET_KEY.encode(), body, hashlib.sha256).hexdigest()


def claim(request) -> IdempotencyRecord | None:
    """Claim the request's key, or raise Replay / CONFLICT. None when no key was sent."""
    if request.method != "POST":
        return None
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not _KEY.match(key):
        raise errors.ValidationFailed.for_fields({HEADER: "Use 1 to 255 visible ASCII characters."})
    body_hash = body_fingerprint(request.body)
    cutoff = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    lookup = {"user": request.user, "key": key, "path": request.path}
    IdempotencyRecord.objects.filter(created_at__lt=cutoff, **lookup).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(request_hash=body_hash, **lookup)
    except IntegrityError:
        existing = IdempotencyRecord.objects.get(**lookup)
    if existing.request_hash != body_hash:
        raise errors.Conflict("This Idempotency-Key was already used with a different request body.")
    if not existing.completed:
        raise errors.Conflict("A request with this Idempotency-Key is still being processed; retry shortly.")
    raise Replay(existing)


def settle(record: IdempotencyRecord, response) -> None:
    """Keep the response for replays, or release the key when the outcome should not stick."""
    if response.status_code >= 500 or response.status_code == 429 or getattr(response, "streaming", False):
        record.delete()
        return
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    record.status_code = response.status_code
    record.response_body = response.content
    record.response_headers = {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)}
    record.save(update_fields=["status_code", "response_body", "response_headers"])
