"""``Idempotency-Key`` for POSTs (SPEC §1).

The same key from the same account on the same path within 24 hours returns the stored first
response (status, body and the headers that matter) without doing the work again. The same key
with a different request is a CONFLICT: a different body, query string, ``X-Synchronex-Scope``,
``If-Match`` or ``If-None-Match``, ``Content-Type`` or ``Content-Encoding`` (each changes what the
request does: ``?dry_run=true``, another workspace, a write over another version, a body read as
JSON or refused as text), all compared byte for byte through one keyed SHA-256, and so is the same
request made with other rights or acting on
another space. The rights are the catalogue scopes the credential allows (not the token: a client
that refreshed its OAuth token between retries still gets its replay), so a narrower token is never
served what a wider credential's answer held. The space is the one the request
resolves to (header, else the scope stored with ``PATCH /scope``); resolving it before the lookup
also runs the membership check, so a member removed from a workspace gets its NOT_FOUND, not the
replay. An operation that acts on no space (its view's ``acts_on_space``, which also decides
whether the OpenAPI document lists the scope header: workspace management names its workspace in
the path) neither resolves nor hashes the header or the stored scope, as it ignores them without a
key. A retry that arrives while the first request is still running is a CONFLICT too. The first
request claims the key with a unique row before doing any work, so concurrent retries can never both
run. Responses with status 5xx or 429 are not kept: the client may retry those for real. A POST
that is a read (the kernel export's, ``ApiView.writes``) keeps nothing: its key is checked, then
ignored, and every request is answered afresh.

A claim whose request never finished (its process was killed: a worker timeout, a deploy, memory)
is abandoned after ``IDEMPOTENCY_LEASE_SECONDS`` (longer than any request may run), and the next
retry with the same request takes it over and runs; until then retries are CONFLICT. Whatever the
killed request had committed may then be done twice: the key cannot know. Kept records are
deleted after 24 hours by the ``synchronex.api.tasks.idempotency_prune`` beat task.
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

from apps.scopes.selectors import NOTICE_HEADER, SCOPE_META, space_for_request
from synchronex.api import errors
from synchronex.api.models import IdempotencyRecord
from synchronex.api.scopes import SCOPES

HEADER = "Idempotency-Key"
KEY_MAX = 255
# 1 to KEY_MAX visible ASCII characters but the comma; the OpenAPI document states this very pattern.
# gunicorn joins a header sent twice with a comma: "k" sent twice arrived as "k,k", a key never sent,
# and the retry ran again. Under WSGI only the joined value is seen, so no key may hold a comma.
KEY = re.compile(rf"^[\x21-\x2b\x2d-\x7e]{{1,{KEY_MAX}}}$")
KEY_RULE = f"Use 1 to {KEY_MAX} visible ASCII characters but the comma, and send the header once."
REPLAYED_HEADERS = ("Content-Type", "ETag", "Location", "Content-Disposition")
# Also every ``X-Synchronex-*`` header of the first answer (the export's scope and tokens, SPEC §9)
# but the scope notice; it, rate-limit headers and ``X-Request-ID`` describe the current request
# and are set on it afresh (a fallback told once is not told again by a replay).
REPLAYED_PREFIX = "x-synchronex-"
NOT_REPLAYED = NOTICE_HEADER.lower()
_REPLAYED = {name.lower() for name in REPLAYED_HEADERS}
# Part of the fingerprint: records written under another format compare unequal (a CONFLICT until
# they expire, at most IDEMPOTENCY_TTL_SECONDS after a deploy that changes it) instead of matching,
# except those of the format just before (``claim`` recognises them: ``_legacy_claim``).
FINGERPRINT_VERSION = b"v3"
# v2: everything v3 holds but If-Match. Its records cannot say which If-Match they were sent with.
LEGACY_FINGERPRINT_VERSION = b"v2"
PATH_MAX = IdempotencyRecord._meta.get_field("path").max_length
# The Content-Type (byte for byte) whose requests, without a Content-Encoding, hash neither header.
USUAL_CONTENT_TYPE = "application/json"
# Refusals of the caller's rights, answered before the operation runs: never kept (``settle``).
NOT_KEPT_REFUSALS = frozenset({401, 403})


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


def granted_scopes(credential) -> str:
    """The catalogue scopes a credential allows, sorted: an API key and OAuth tokens compare by rights."""
    return " ".join(sorted(scope for scope in SCOPES if credential is not None and credential.allows(scope)))


def request_fingerprint(
    request, version: bytes | None = None, *, scoped: bool = True, secret: str | None = None
) -> str:
    """A keyed digest of what the request asks beyond its path: query string, scope header, the
    credential's rights, the space it acts on, ``If-Match``, ``If-None-Match``, ``Content-Type``,
    ``Content-Encoding`` and body (bodies may
    hold secrets, BYOK keys, so no bare hash is kept), in the format ``version`` (default
    ``FINGERPRINT_VERSION``). Resolving the space raises NOT_FOUND for a workspace the caller left.
    ``scoped=False`` (an operation on no space) leaves the scope header and the space out. Keyed
    with ``secret``, by default ``SECRET_KEY``: records are always kept under it."""
    version = version or FINGERPRINT_VERSION
    digest = hmac.new((secret or settings.SECRET_KEY).encode(), version, digestmod=hashlib.sha256)
    if scoped:
        parts = [
            request.META.get("QUERY_STRING", ""),
            request.headers.get("X-Synchronex-Scope"),
            granted_scopes(getattr(request, "auth", None)),
            str(space_for_request(request).space.pk),
        ]
    else:
        # Joined v3 after records were kept, behind its own mark "*" (before the others), so a
        # scoped request's fingerprint stays as it was; ``claim`` still recognises the records an
        # unscoped one kept while it hashed the scope.
        digest.update(b"*")
        parts = [request.META.get("QUERY_STRING", ""), granted_scopes(getattr(request, "auth", None))]
    if version != LEGACY_FINGERPRINT_VERSION:
        parts.append(request.headers.get("If-Match"))
        if_none_match = request.headers.get("If-None-Match")
        if if_none_match is not None:
            # Joined v3 after records were kept: only a request sending it hashes it, so every other
            # request's fingerprint (and the records kept for it) stays as it was. The "+" tells the two
            # kinds apart: an encoded part starts with a digit or "-", never with it.
            digest.update(b"+")
            parts.append(if_none_match)
        content_type, encoding = request.META.get("CONTENT_TYPE"), request.META.get("HTTP_CONTENT_ENCODING")
        if content_type != USUAL_CONTENT_TYPE or encoding is not None:
            # How the body is read (a text/plain body is a 415 where the same bytes as JSON are a
            # 201) joined v3 likewise: hashed, behind its own mark "~", unless it is the usual
            # application/json without a Content-Encoding, so the records kept for those stay valid.
            digest.update(b"~")
            parts.extend((content_type, encoding))
    for part in parts:
        if part is None:  # an absent header is not an empty one (the scope refuses an empty one)
            digest.update(b"-:")
            continue
        encoded = part.encode("utf-8", "surrogateescape")
        digest.update(b"%d:" % len(encoded) + encoded)
    digest.update(request.body)
    return digest.hexdigest()


def claim(request, *, scoped: bool = True, writes: bool = True) -> IdempotencyRecord | None:
    """Claim the request's key, or raise Replay / CONFLICT. None when no key was sent. ``scoped``:
    whether the operation acts on the active space (``ApiView.acts_on_space``). ``writes=False``
    (a read, ``ApiView.writes``: the kernel export's POST): the key's form is checked as on every
    POST, and nothing is claimed or kept. A read has no effect a retry could repeat, and a kept
    copy of its answer would outlive every delete and edit made since (SPEC §6: a real delete)."""
    if request.method != "POST":
        return None
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not KEY.match(key):
        raise errors.ValidationFailed.for_fields({HEADER: KEY_RULE})
    if not writes:
        return None
    if len(request.path) > PATH_MAX:
        return None  # no route has a path this long: the view answers it (400 or 404), nothing to keep
    request_hash = request_fingerprint(request, scoped=scoped)
    now = timezone.now()
    lookup = {"user": request.user, "key": key, "path": request.path}
    IdempotencyRecord.objects.filter(
        created_at__lt=now - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS), **lookup
    ).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(request_hash=request_hash, **lookup)
    except IntegrityError:
        existing = IdempotencyRecord.objects.get(**lookup)
    if not _kept_for(existing, request, request_hash, scoped=scoped):
        legacy = (_hashed_with_scope(request, LEGACY_FINGERPRINT_VERSION, scoped=scoped, secret=s) for s in _secrets())
        if existing.request_hash not in legacy:
            raise errors.Conflict(
                "This Idempotency-Key was already used with a different request (body, Content-Type, "
                "If-Match, If-None-Match, query string or scope) or with other rights."
            )
        taken = _legacy_claim(existing, request_hash, now)
        if taken is not None:
            return taken
    if not existing.completed:
        abandoned = now - timedelta(seconds=settings.IDEMPOTENCY_LEASE_SECONDS)
        # One retry takes an abandoned claim over: the update matches only while it is unfinished and old.
        taken = IdempotencyRecord.objects.filter(
            pk=existing.pk, status_code__isnull=True, created_at__lt=abandoned
        ).update(created_at=now)
        if taken:
            existing.created_at = now
            return existing
        raise errors.Conflict("A request with this Idempotency-Key is still being processed; retry shortly.")
    raise Replay(existing)


def _secrets() -> list[str]:
    """``SECRET_KEY``, then each of ``SECRET_KEY_FALLBACKS`` (Django's own rotation setting): a
    record kept under the key before a rotation still matches its retries, as signed cookies do."""
    return [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]


def _kept_for(existing: IdempotencyRecord, request, request_hash: str, *, scoped: bool) -> bool:
    """Whether ``existing`` was kept for this very request (``request_hash``: its fingerprint
    now), under any of ``_secrets``, in the current format."""
    if existing.request_hash == request_hash:
        return True
    for secret in _secrets():
        if secret != settings.SECRET_KEY and existing.request_hash == request_fingerprint(
            request, scoped=scoped, secret=secret
        ):
            return True
        # A record of this very request, kept while operations on no space hashed the scope too.
        if not scoped and existing.request_hash == _hashed_with_scope(request, scoped=False, secret=secret):
            return True
    return False


def _hashed_with_scope(request, version: bytes | None = None, *, scoped: bool, secret: str | None = None) -> str | None:
    """The fingerprint the releases that hashed every request's scope kept for this request: its
    own for an operation on a space; for one on no space, only an ordinary retry's (no scope
    header: resolving one is what those operations stopped doing), else None, so a record kept
    with the header is a CONFLICT until it expires."""
    if not scoped and request.META.get(SCOPE_META) is not None:
        return None
    return request_fingerprint(request, version, secret=secret)


def _legacy_claim(existing: IdempotencyRecord, request_hash: str, now) -> IdempotencyRecord | None:
    """For a record kept before If-Match joined the fingerprint, of this request but for an
    If-Match it cannot tell: the record itself when this request takes the key over, else None
    (go on as for a record of this very request: replay it, or wait while it runs).

    A kept 412 did nothing, so this request runs whatever its If-Match (the corrected retry of a
    stale write is not answered the old 412, and no CONFLICT blames a difference the client cannot
    see); any other kept answer is replayed as that release would have (its work was done).
    """
    if existing.status_code != 412:
        return None
    # One retry takes it over: the update matches only while the record is still that old 412.
    taken = IdempotencyRecord.objects.filter(
        pk=existing.pk, request_hash=existing.request_hash, status_code=412
    ).update(request_hash=request_hash, status_code=None, response_body=None, response_headers={}, created_at=now)
    if not taken:
        raise errors.Conflict("A request with this Idempotency-Key is still being processed; retry shortly.")
    existing.request_hash, existing.status_code, existing.created_at = request_hash, None, now
    existing.response_body, existing.response_headers = None, {}
    return existing


def prune(*, now=None) -> int:
    """Delete the records older than ``IDEMPOTENCY_TTL_SECONDS``; returns how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.IDEMPOTENCY_TTL_SECONDS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def settle(record: IdempotencyRecord, response) -> None:
    """Keep the response for replays, or release the key when the outcome should not stick.

    Not kept: 5xx and 429 (worth a real retry), streams, and the refusals that come before the
    operation runs (``NOT_KEPT_REFUSALS``: 401, and 403 FORBIDDEN / TIER_REQUIRED / a missing
    scope, and a workspace the caller is not in: ``refuses_rights``), which answer the caller's
    rights at that moment: a viewer promoted to member, an added member, an
    upgraded plan or a wider token then retries with the same key for real, as payment APIs keep
    results only once the endpoint started executing. A kept answer is the work that was done:
    a 201 is still replayed to a member demoted since (the write did happen).
    """
    status = response.status_code
    refused = status in NOT_KEPT_REFUSALS or getattr(response, "refuses_rights", False)
    if status >= 500 or status == 429 or refused or getattr(response, "streaming", False):
        record.delete()
        return
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    record.status_code = response.status_code
    record.response_body = response.content
    record.response_headers = {
        name: value
        for name, value in response.items()
        if name.lower() in _REPLAYED or (name.lower().startswith(REPLAYED_PREFIX) and name.lower() != NOT_REPLAYED)
    }
    record.save(update_fields=["status_code", "response_body", "response_headers"])
