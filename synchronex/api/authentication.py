"""Bearer authentication for the API: ``Authorization: Bearer <token>`` and nothing else.

Each token family is recognised by its prefix and resolved by its own function, which returns
the credential (an object with ``user``, ``allows(scope)`` and ``actor``) or raises
UNAUTHORIZED / TOKEN_EXPIRED. Session cookies are never accepted on the API.
"""

from __future__ import annotations

import functools

from django.utils.module_loading import import_string
from rest_framework.authentication import BaseAuthentication

from apps.oauth.resources import DEFAULT_RESOURCE, resource_metadata_url
from synchronex.api import errors, ratelimit

REALM = "synchronex"

# prefix → dotted path of a function(raw_token=..., request=None) -> credential. ``request`` is
# given for the API's requests (ApiAuthentication): a resolver may then count the request against
# the account's quota and read its context stamp in its own lookup, as the API key's does.
TOKEN_RESOLVERS: dict[str, str] = {
    "sx_live_": "apps.accounts.services.api_key_authenticate",
    "sxo_": "apps.oauth.services.oauth_token_authenticate",
}


def register_token_resolver(prefix: str, dotted_path: str) -> None:
    TOKEN_RESOLVERS[prefix] = dotted_path


@functools.cache
def _resolver(dotted_path: str):
    return import_string(dotted_path)


def bearer_token(header: str | None) -> str | None:
    """The token of a well-formed ``Authorization: Bearer <token>`` header, else None."""
    scheme, _, token = (header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def _quoted(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def bearer_challenge(error: errors.ServiceError, *, resource: str = DEFAULT_RESOURCE, scope: str = "") -> str:
    """The ``WWW-Authenticate`` of a 401, one rule for every protected resource (the REST API and
    ``/mcp``): the realm; where the resource's RFC 9728 metadata is (``resource_metadata``, §5.1), from
    which a client discovers the authorization server; the scopes to ask for, when given; and unless
    no Bearer token was sent (``MissingCredentials``: no header, or another scheme's),
    ``error="invalid_token"`` with the reason (RFC 6750 §3.1: expired, revoked, unknown, malformed or
    for another resource), so that a client refreshes or authorizes again rather than asks its user
    for credentials."""
    challenge = f'Bearer realm="{REALM}", resource_metadata="{resource_metadata_url(resource)}"'
    if scope:
        challenge += f', scope="{scope}"'
    if not isinstance(error, errors.MissingCredentials):
        challenge += f', error="invalid_token", error_description="{_quoted(error.message)}"'
    return challenge


def guarded(request, resolve):
    """``resolve()`` a bearer token under the per-address throttle of failed authentications
    (``API_AUTH_FAILURES_PER_MINUTE``): a throttled address gets RATE_LIMITED before any lookup in
    a process that saw it fail this minute, and every UNAUTHORIZED answer counts against its address
    (never against an account), turning into RATE_LIMITED past the limit (``synchronex.api.ratelimit``
    says why a process that saw no failure still looks one token up)."""
    ratelimit.bearer_failures_check(request)
    try:
        return resolve()
    except errors.Unauthorized:
        ratelimit.bearer_failure_count(request)
        raise


class BearerAuthentication(BaseAuthentication):
    # Whether resolvers get the request (ApiAuthentication), so that a lookup may count it and read
    # the account's context stamp; callers that count by themselves (MCP) leave it off.
    counts_requests = False

    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        return guarded(request, lambda: self._resolve(header, request))

    def _resolve(self, header: str, request):
        token = bearer_token(header)
        if token is None:
            scheme, _, rest = header.strip().partition(" ")
            if scheme.lower() != "bearer" or not rest.strip():
                # No Bearer token at all (Basic, another scheme, an empty value): RFC 6750 §3.1 answers
                # "an unsupported authentication method" as a request without credentials, with no
                # error code, so that a client fixes its header rather than refreshes and re-authorizes.
                raise errors.MissingCredentials("Unsupported Authorization header: use 'Bearer <token>'.")
            raise errors.Unauthorized("Malformed Authorization header: use 'Bearer <token>'.")
        for prefix, path in TOKEN_RESOLVERS.items():
            if token.startswith(prefix):
                credential = _resolver(path)(raw_token=token, request=request if self.counts_requests else None)
                return credential.user, credential
        raise errors.Unauthorized("Unrecognised token.")

    def authenticate_header(self, request):
        # DRF answers 401, not 403, for a view's authenticators that name a challenge; the header
        # sent is ``bearer_challenge``'s (``exceptions.error_response``).
        return f'Bearer realm="{REALM}"'


class ApiAuthentication(BearerAuthentication):
    """The API's authentication (ApiView): resolvers get the request, so an API key's lookup
    counts it and reads the account's context stamp in the same statement
    (``accounts.selectors.api_key_by_digest``); ``ApiView.perform_authentication`` then judges the
    count, or counts the request itself when the lookup did not (OAuth tokens)."""

    counts_requests = True
