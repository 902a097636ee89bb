"""OAuth tokens on the API, and a user's connections to third-party apps.

``oauth_token_authenticate`` is the API's resolver for ``sxo_`` tokens (registered in
``synchronex.api.authentication.TOKEN_RESOLVERS``). Everything about issuing tokens is
django-oauth-toolkit's; this module only reads its rows, revokes them for a user, and deletes
the registered clients nobody uses.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)
from oauth2_provider.settings import oauth2_settings

from apps.oauth.generators import ACCESS_TOKEN_PATTERN
from apps.oauth.models import AppUsage
from apps.oauth.resources import resource_uri
from synchronex.api import errors
from synchronex.api.models import ContextStamp
from synchronex.api.scopes import SCOPES

# Last use is written at most once a minute per (user, app), like API keys.
LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class OAuthCredential:
    """The credential of a request made with an OAuth access token (the API's protocol)."""

    user: object
    application: object
    scopes: frozenset[str]
    token_id: int = field(compare=False)

    kind = "oauth"

    def allows(self, scope: str) -> bool:
        """True only for the scopes the user granted to this token."""
        if scope not in SCOPES:
            raise KeyError(f"Unknown scope {scope!r}")
        return scope in self.scopes

    @property
    def actor(self) -> str:
        return f"oauth:{self.application.client_id}"


def token_checksum(raw_token: str) -> str:
    """The lookup key DOT stores instead of the token (SHA-256, hex)."""
    return hashlib.sha256(raw_token.encode("utf-8")).hexdigest()


def oauth_token_authenticate(*, raw_token: str, resource: str | None = None, request=None) -> OAuthCredential:
    """Resolve an ``sxo_`` access token, or raise UNAUTHORIZED / TOKEN_EXPIRED.

    ``resource`` is the resource identifier being called (default: the REST API); a token
    the client narrowed to other resources (RFC 8707) is refused here. With ``request`` (the
    token resolvers' contract, synchronex/api/authentication.py), the account's context stamp is
    read in the same statement as the token and its user and left on the request: a stamp read
    later (``ratelimit.consume`` would) could be newer than the user row, and what the request
    remembers under it (its active space holds that user as the personal space's owner) would
    outlive a change such as a tier change (``synchronex/api/stamps.py``). This lookup counts
    nothing; ``ratelimit.consume`` counts the request after it.
    """
    if not ACCESS_TOKEN_PATTERN.match(raw_token):
        raise errors.Unauthorized("Malformed OAuth access token.")
    AccessToken = get_access_token_model()
    last_used = AppUsage.objects.filter(user=OuterRef("user"), application=OuterRef("application")).values(
        "last_used_at"
    )[:1]
    stamp = ContextStamp.objects.filter(user_id=OuterRef("user_id")).values("stamp")[:1]
    token = (
        AccessToken.objects.select_related("user", "application")
        .annotate(
            app_last_used_at=Subquery(last_used),
            context_stamp=Coalesce(Subquery(stamp), 0),  # as synchronex.api.stamps reads it
        )
        .filter(token_checksum=token_checksum(raw_token))
        .first()
    )
    if token is None or token.user is None or token.application is None or not token.user.is_active:
        raise errors.Unauthorized("Unknown or revoked OAuth access token.")
    if token.is_expired():
        raise errors.TokenExpired("This OAuth access token has expired; refresh it or reconnect the app.")
    if not token.allows_audience(resource or resource_uri()):
        raise errors.Unauthorized("This OAuth access token was issued for another resource.")
    _record_use(token)
    if request is not None:
        request.context_stamp = token.context_stamp
    return OAuthCredential(
        user=token.user, application=token.application, scopes=frozenset(token.scope.split()), token_id=token.pk
    )


def _record_use(token) -> None:
    now = timezone.now()
    last = token.app_last_used_at
    if last is not None and now - last < LAST_USED_RESOLUTION:
        return
    lookup = {"user_id": token.user_id, "application_id": token.application_id}
    if last is None:
        try:
            with transaction.atomic():
                AppUsage.objects.create(last_used_at=now, **lookup)
            return
        except IntegrityError:
            pass  # a concurrent request created it: fall through to the update
    # The filter re-checks the age, so concurrent requests never move it backwards.
    AppUsage.objects.filter(last_used_at__lte=now - LAST_USED_RESOLUTION, **lookup).update(last_used_at=now)


@transaction.atomic
def connected_app_revoke(*, user, application_id: int):
    """Revoke every token and pending code the user gave one app, and forget its last use;
    NOT_FOUND if none is live and no use is remembered. An app that revoked its own tokens (RFC
    7009) is no longer listed, but its "last used" row is removed too: kept, it would keep a
    registered client from being deleted (``unused_registrations_delete``).

    The app may be refreshing at this very moment. A rotation that locked its refresh token
    first makes the first update wait, then skip that token; the new pair it wrote is seen by
    the statements after it: the delete takes the new access token, the second update revokes
    the new refresh token. A rotation that checked its token before this commits finds it
    revoked once it holds the lock, and fails (``validators.OAuth2Validator``).
    """
    Application = get_application_model()
    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    application = Application.objects.filter(pk=application_id).first()
    if application is None:
        raise errors.NotFound("No such connected app.")
    access = AccessToken.objects.filter(user=user, application=application)
    refresh = RefreshToken.objects.filter(user=user, application=application, revoked__isnull=True)
    connected = access.exists() or refresh.exists()
    if connected:
        now = timezone.now()
        # Revoked refresh tokens are kept (not deleted) so that a replay is recognised as reuse.
        refresh.update(revoked=now, updated=now)
        access.delete()
        refresh.update(revoked=now, updated=now)
    get_grant_model().objects.filter(user=user, application=application).delete()
    forgotten, _ = AppUsage.objects.filter(user=user, application=application).delete()
    if not connected and not forgotten:
        raise errors.NotFound("No such connected app.")  # rolled back: a pending code stays
    return application


def idle_app_usages_delete() -> int:
    """Delete the "last used" rows (``AppUsage``) of apps for which their account holds no code,
    token or refresh token any more (revoked ones included: those stay while a replay of them
    must still revoke their chain), once DOT's ``clear_expired`` has deleted the last one. The row
    would outlive every token, and keep the client from being deleted (``unused_registrations_delete``)
    for ever: the app is no longer listed, so the account cannot disconnect it. Returns how many
    were deleted."""
    usage = {"user": OuterRef("user"), "application": OuterRef("application")}
    deleted, _ = AppUsage.objects.filter(
        ~Exists(get_grant_model().objects.filter(**usage)),
        ~Exists(get_refresh_token_model().objects.filter(**usage)),
        ~Exists(get_access_token_model().objects.filter(**usage)),
    ).delete()
    return deleted


# Unused clients are deleted a chunk at a time: each is a row of up to ~20 KB that the deletion
# collector loads, and open registration can leave very many.
PRUNE_CHUNK = 1000


def unused_registrations_delete(*, registered_before: datetime) -> int:
    """Delete the clients registered over RFC 7591 (DCR) before ``registered_before`` that no
    account holds a code, token or refresh token for, and none has used (``AppUsage``, kept until
    the account disconnects the app); their RFC 7592 registration access token goes with them.
    Returns how many were deleted. Clients made in the admin are never touched."""
    Application = get_application_model()
    app = OuterRef("pk")
    unused = Application.objects.filter(
        ~Exists(get_grant_model().objects.filter(application=app)),
        ~Exists(get_refresh_token_model().objects.filter(application=app)),
        ~Exists(
            get_access_token_model()
            .objects.filter(application=app)
            .exclude(scope=oauth2_settings.DCR_REGISTRATION_SCOPE)
        ),
        ~Exists(AppUsage.objects.filter(application=app)),
        registration_source=Application.RegistrationSource.DCR,
        created__lt=registered_before,
    )
    deleted = 0
    while ids := list(unused.values_list("pk", flat=True)[:PRUNE_CHUNK]):
        # Checked again in the delete: a client authorized since the ids were read stays.
        _, per_model = unused.filter(pk__in=ids).delete()
        deleted += per_model.get(Application._meta.label, 0)
    return deleted


@dataclass(frozen=True)
class Revoked:
    """The tokens a bulk revocation ended, as they were read just before: the access tokens it
    deleted (with their user and application, which their history entries name once the rows
    are gone) and the refresh tokens it marked revoked."""

    access_tokens: list
    refresh_tokens: list


# Revoking many tokens (the admin's "Revoke selected tokens" over every token of a compromised app)
# is done in a few statements for the whole set, never per token: DOT's ``revoke()`` takes a
# locking SELECT and two or three writes per token (about 160 a second), so 25,000 tokens outran
# the request's time limit and left most of them valid. The effect is that of DOT's ``revoke()``
# on each: a refresh token is kept, marked revoked (a replay is then recognised as reuse), and
# loses its access token, which is deleted (that is how DOT revokes an access token). ID tokens
# are left as DOT leaves them (OpenID Connect is off, none are issued). Rows are locked in DOT's
# order, refresh tokens first, so a concurrent rotation cannot deadlock against a revocation.
# Nothing but ``RefreshToken.access_token`` points at an access token, and that is cleared in the
# same transaction, so they go in one ``DELETE`` (``_raw_delete``) rather than through the
# deletion collector, which loads every row and deletes a hundred per statement. Selecting every
# access token of an app also takes its RFC 7592 registration token (DOT's, for managing the
# registration), which no refresh token was issued with.


# The selection (an admin search over apps and users, say) is read once into its ids, and the
# writes name those ids, a chunk at a time: each statement is then an index lookup whatever the
# planner believes of freshly filled tables. With the search nested in every statement, a run on
# a loaded machine once sat in one CPU-bound UPDATE for about 20 minutes.
REVOKE_CHUNK = 5000


def _chunks(queryset):
    ids = list(queryset.values_list("pk", flat=True))
    return [ids[start : start + REVOKE_CHUNK] for start in range(0, len(ids), REVOKE_CHUNK)]


def _locked(queryset) -> list:
    """The rows of ``queryset``, locked (its own table's only) before they are written by id: the
    rows written are then exactly those read, which the admin logs one by one. A row locked by a
    concurrent rotation is read once that commits, and only if it still matches, as an UPDATE
    would take it."""
    return list(queryset.select_for_update(of=("self",)))


@transaction.atomic
def access_tokens_revoke(*, access_tokens) -> Revoked:
    """Revoke every access token of the queryset ``access_tokens`` and the refresh token issued
    with each (``revoke_access_token`` of DOT, set-wise; see above)."""
    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    now = timezone.now()
    total = Revoked(access_tokens=[], refresh_tokens=[])
    for ids in _chunks(access_tokens):
        bound = RefreshToken.objects.filter(access_token__in=ids)
        revoked = _locked(bound.filter(revoked__isnull=True))
        # ``updated`` is ``auto_now``, which a queryset update does not set.
        RefreshToken.objects.filter(pk__in=[token.pk for token in revoked]).update(
            revoked=now, updated=now, access_token=None
        )
        bound.update(access_token=None)  # one already revoked that still held its access token
        deleted = _locked(AccessToken.objects.filter(pk__in=ids).select_related("user", "application"))
        selected = AccessToken.objects.filter(pk__in=[token.pk for token in deleted])
        selected._raw_delete(selected.db)
        total.access_tokens.extend(deleted)
        total.refresh_tokens.extend(revoked)
    return total


@transaction.atomic
def refresh_tokens_revoke(*, refresh_tokens) -> Revoked:
    """Revoke every refresh token of the queryset ``refresh_tokens`` and delete its access token
    (``RefreshToken.revoke`` of DOT on each, set-wise; see above). One already revoked stays as
    it is, and is not counted."""
    AccessToken = get_access_token_model()
    RefreshToken = get_refresh_token_model()
    now = timezone.now()
    total = Revoked(access_tokens=[], refresh_tokens=[])
    for ids in _chunks(refresh_tokens):
        selected = RefreshToken.objects.filter(pk__in=ids)
        revoked = _locked(selected.filter(revoked__isnull=True))
        RefreshToken.objects.filter(pk__in=[token.pk for token in revoked]).update(revoked=now, updated=now)
        issued = AccessToken.objects.filter(pk__in=selected.values("access_token_id"))
        deleted = _locked(issued.select_related("user", "application"))
        # Deleted before the pointers to them are cleared: the foreign key is checked at commit.
        issued = AccessToken.objects.filter(pk__in=[token.pk for token in deleted])
        issued._raw_delete(issued.db)
        selected.filter(access_token__isnull=False).update(access_token=None)
        total.access_tokens.extend(deleted)
        total.refresh_tokens.extend(revoked)
    return total
