"""DOT's request validator, with the rules it leaves out.

- PKCE values must have the shape RFC 7636 gives them: a ``code_verifier`` is 43–128 characters
  of ``A-Z a-z 0-9 - . _ ~`` (§4.1), an S256 ``code_challenge`` the 43 characters of an unpadded
  base64url SHA-256 (§4.2). oauthlib only compares the two, so a verifier ``"abc"`` would do.
- An inactive user gets no token: neither from a code issued before the account was disabled
  nor by refreshing (DOT checks ``is_active`` only for the password grant).
- A replayed authorization code revokes every token it issued (RFC 6749 §4.1.2, OAuth 2.1
  §4.1.3). DOT deletes the grant on exchange and keeps no link from it to the tokens, so the
  refresh token chain (DOT's ``token_family``, which rotation and reuse protection carry on)
  of a code exchange is named after the code itself (``code_family``): a replay finds it from
  the code alone and revokes it with DOT's own ``RefreshToken.revoke_family``.
- An exchange whose code another exchange of it spent meanwhile (two requests at the same moment:
  the grant is gone between ``validate_code`` and a later lookup of it) is ``invalid_grant``
  and revokes what the code issued, as a replay does; DOT's lookups raised DoesNotExist (a 500).
- A scope named twice is granted once (``distinct_scopes``): the consent page, the grant and the
  issued token name each scope once, in the order first asked for.
- The refresh token check is repeated under the lock DOT takes to rotate it; a refresh that lost
  the race with another refresh of the same token is ``invalid_grant``, as only checksums of the
  pair the other one got are kept.
- RFC 8707 resource indicators name one of this server's protected resources
  (``resources.served_resource``), else ``invalid_target``: DOT takes any absolute URI.
- A ``client_id`` or ``code`` that is not printable ASCII (RFC 6749 Appendix A: both are
  VSCHAR) is unknown without asking the database: PostgreSQL refuses a NUL in a query, and DOT
  catches only psycopg2's ValueError, not psycopg 3's DataError. So such a value gets the answer
  of any unknown one (``invalid_client``, ``invalid_grant``), never a 500. A NUL in a value that
  is stored instead (``nonce``) is ``invalid_request``, and so is one too long for its column.
  Tokens are looked up by their SHA-256, which any string has. A ``state`` (VSCHAR too, Appendix
  A.5) is only carried back to the client: the consent page refuses any other before asking
  (``views.ConsentView``).

Not done here: RFC 6749 §6 treats a refresh without ``scope`` as asking for the scope first
granted, but DOT keeps no scope on the refresh token: the scope of the token being refreshed is
what a refresh may ask for, so a narrower refresh stays narrow (README, "OAuth").
"""

from __future__ import annotations

import re
import uuid

from oauth2_provider import oauth2_validators
from oauth2_provider.models import get_grant_model, get_refresh_token_model
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from apps.oauth.resources import PROTECTED_RESOURCES, resource_uri, served_resource

CODE_VERIFIER = re.compile(r"[A-Za-z0-9._~-]{43,128}")
S256_CODE_CHALLENGE = re.compile(r"[A-Za-z0-9_-]{43}")
# RFC 6749 Appendix A.1 / A.11 / A.5: client_id = *VSCHAR, code and state = 1*VSCHAR (%x20-7E).
VSCHARS = re.compile(r"[\x20-\x7e]*")
# uuid5 namespace of the token families of code exchanges (any fixed UUID; never change it, or
# replays of codes exchanged before the change find nothing to revoke).
CODE_FAMILY_NAMESPACE = uuid.UUID("5b0f3c1e-8a6d-4f2b-9c7e-2d4a1e6f8b30")


def code_family(code: str) -> uuid.UUID:
    """The refresh token family of the tokens a code is exchanged for. Codes are random and
    secret, and only a hash of one is stored here, so the family names no code to a reader."""
    return uuid.uuid5(CODE_FAMILY_NAMESPACE, code)


def code_challenge_problem(challenge: str | None) -> str | None:
    """Why an S256 ``code_challenge`` cannot be one (RFC 7636 §4.2), or None. A missing one is
    refused elsewhere (PKCE is required)."""
    if challenge is None or S256_CODE_CHALLENGE.fullmatch(challenge):
        return None
    return "code_challenge must be the 43-character base64url SHA-256 of the code_verifier, without padding."


def distinct_scopes(scopes: list) -> list:
    """``scopes`` with each one once, where it first appears. RFC 6749 §3.3 defines scope as a
    set, so a repeat asks for nothing more; the order asked for is kept (rather than, say, the
    catalogue's) so the consent page and the token list scopes as the client named them."""
    return list(dict.fromkeys(scopes))


def is_vschar(value) -> bool:
    """Whether ``value`` could be a client_id, code or state: a string of printable ASCII."""
    return isinstance(value, str) and VSCHARS.fullmatch(value) is not None


def invalid_target(request) -> oauth_errors.OAuth2Error:
    """RFC 8707 §2 for a resource this server does not serve. The description names what it
    serves, never the value sent (an error_description allows no quote or backslash)."""
    served = " or ".join(resource_uri(path) for path in PROTECTED_RESOURCES)
    return oauth_errors.CustomOAuth2Error(
        error="invalid_target", description=f"The resource must be {served}.", request=request
    )


def canonical_resources(uris: list) -> list:
    """``uris`` in the spelling this server gives each protected resource (``resources.resource_uri``:
    no trailing slash, scheme and host as configured), once each; one that names no resource here
    stays as it is, to be refused as ``invalid_target``."""
    return list(dict.fromkeys(uri if (path := served_resource(uri)) is None else resource_uri(path) for uri in uris))


def _active(user) -> bool:
    return user is not None and user.is_active


class OAuth2Validator(oauth2_validators.OAuth2Validator):
    def _load_application(self, client_id, request):
        # Every client lookup (authorize, token, revoke, HTTP Basic) comes here. None as
        # client_id is DOT's own case (no client named).
        if client_id is not None and not is_vschar(client_id):
            request.client = None  # as DOT does when the client_id differs from a cached one
            return None
        return super()._load_application(client_id, request)

    def authenticate_client(self, request, *args, **kwargs):
        authenticated = super().authenticate_client(request, *args, **kwargs)
        if authenticated and request.client_id and request.client_id != request.client.client_id:
            # A body client_id naming another client than HTTP Basic authenticated: two identities
            # in one request, which RFC 6749 §5.2 calls invalid_request. oauthlib answers it with
            # server_error, which clients read as the server failing.
            raise oauth_errors.InvalidRequestError(
                description="client_id names another client than the HTTP Basic credentials.", request=request
            )
        return authenticated

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        # oauthlib asks this of the authorization request, for the page and again for the click,
        # right after splitting its scope: each is kept once (``distinct_scopes``), for the page,
        # its form and the grant alike.
        request.scopes = distinct_scopes(scopes)
        return super().validate_scopes(client_id, request.scopes, client, request, *args, **kwargs)

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        # The metadata advertises response_modes_supported ["query"] (endpoints.ServerMetadataView):
        # oauthlib would answer response_mode=fragment in the fragment and take any other value
        # for the query. Checked here, once the redirect URI is known good, on the page and the
        # click alike; the refusal itself goes back in the query.
        if request.response_mode and request.response_mode != "query":
            request.response_mode = "query"
            raise oauth_errors.InvalidRequestError(
                description="response_mode must be query, the only one supported.", request=request
            )
        return super().validate_response_type(client_id, response_type, client, request, *args, **kwargs)

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        # The consent page refuses such a challenge before asking; this covers a posted form
        # whose hidden field was altered.
        problem = code_challenge_problem(request.code_challenge)
        if problem is not None:
            raise oauth_errors.InvalidRequestError(description=problem, request=request)
        if request.nonce and "\x00" in request.nonce:
            # Stored on the grant: PostgreSQL cannot hold it.
            raise oauth_errors.InvalidRequestError(description="nonce must not contain NUL.", request=request)
        longest = get_grant_model()._meta.get_field("nonce").max_length
        if request.nonce and len(request.nonce) > longest:
            # Nor a longer one than DOT's column (PostgreSQL refused it: a 500).
            raise oauth_errors.InvalidRequestError(
                description=f"nonce must be at most {longest} characters.", request=request
            )
        # The consent page refuses them first (views.ConsentView); this covers an altered form.
        self._validate_resource_uris(request, getattr(request, "resource", None) or [])
        request.resource = canonical_resources(getattr(request, "resource", None) or [])
        return super().save_authorization_code(client_id, code, request, *args, **kwargs)

    def _validate_resource_uris(self, request, resources):
        # DOT checks only that a resource is an absolute URI, so a token could be bound to a
        # resource this server does not serve and be refused everywhere (and a refresh could
        # rebind a chain so). DOT calls this for the resources of a token request and those it
        # inherits; save_authorization_code for the grant's. (A NUL, which jsonb cannot hold, is
        # no served resource either.)
        for resource in resources:
            if served_resource(resource) is None:
                raise invalid_target(request)
        super()._validate_resource_uris(request, resources)

    def _check_and_set_request_resource(self, request):
        # DOT compares a token request's resources with the grant's or the refresh token's as
        # strings, though a trailing slash, or the scheme and host in capitals, name the same
        # resource (README, "OAuth"; RFC 3986 §6.2.2-6.2.3). Both sides are given the one spelling
        # the server gives each resource (``canonical_resources``): a grant is stored so
        # (``save_authorization_code``), and a refresh token written before it was is read so. Only
        # a token request comes here; its body holds every resource it names (oauthlib's
        # ``request.resource`` keeps only the last).
        named = [value for key, value in getattr(request, "decoded_body", None) or [] if key == "resource"]
        request.resource = canonical_resources(named)
        previous = getattr(request, "refresh_token_instance", None)
        if previous is not None and previous.resource:
            previous.resource = canonical_resources(previous.resource)
        super()._check_and_set_request_resource(request)

    def _create_authorization_code(self, request, code, expires=None):
        grant = super()._create_authorization_code(request, code, expires)
        if getattr(request, "redirect_uri_omitted", False):
            # The authorization request named no redirect_uri (views.ConsentView): the grant
            # keeps none, so confirm_redirect_uri lets the exchange leave it out too.
            grant.redirect_uri = ""
            grant.save(update_fields=["redirect_uri"])
        return grant

    def _exchanged_grant(self, code, client, request):
        """The grant of ``code`` being exchanged, looked up again after ``validate_code`` found it.

        Gone means another exchange of the same code, sent at the same moment, completed
        meanwhile (it deletes the grant once its tokens are committed): this one is a replay,
        so it is refused ``invalid_grant`` and revokes what the code issued, as ``validate_code``
        does for a code presented once the exchange is over (RFC 6749 §4.1.2, §10.5). (Had the
        app been disconnected meanwhile instead, its tokens are gone already: nothing to revoke.)
        DOT's lookups raised DoesNotExist here, a 500.
        """
        grant = get_grant_model().objects.filter(code=code, application=client).first()
        if grant is None:
            get_refresh_token_model().revoke_family(code_family(code))
            raise oauth_errors.InvalidGrantError(request=request)
        return grant

    def get_code_challenge(self, code, request):
        return self._exchanged_grant(code, request.client, request).code_challenge or None

    def get_code_challenge_method(self, code, request):
        return self._exchanged_grant(code, request.client, request).code_challenge_method or None

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        """RFC 6749 §4.1.3: ``redirect_uri`` is required if the authorization request had one, and
        identical to it; a different one is ``invalid_grant`` (§5.2). oauthlib fills in the one
        registered URI for a token request without it, which would make it optional always."""
        grant = self._exchanged_grant(code, client, request)
        if not grant.redirect_uri:
            # None was named when authorizing: the code went to the registered URI, which the
            # exchange may name (or leave out: oauthlib then passes that one here).
            matches = redirect_uri in client.redirect_uris.split()
        elif request.using_default_redirect_uri:
            raise oauth_errors.InvalidRequestError(
                description="redirect_uri is required: the authorization request had one.", request=request
            )
        else:
            matches = grant.redirect_uri_allowed(redirect_uri)
        if not matches:
            raise oauth_errors.InvalidGrantError(
                description="redirect_uri is not the one of the authorization request.", request=request
            )
        return True

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        if not is_vschar(code):
            return False  # no code is anything else; the database is not asked (module docstring)
        if not super().validate_code(client_id, code, client, request, *args, **kwargs):
            # Unknown, used or expired. A used one is a replay: what it issued is revoked. (An
            # unknown or unused code names a family with no token: nothing happens.)
            get_refresh_token_model().revoke_family(code_family(code))
            return False
        if not _active(request.user):
            return False
        request.scopes = distinct_scopes(request.scopes)  # a grant stored before repeats were dropped
        verifier = request.code_verifier
        if verifier is not None and not CODE_VERIFIER.fullmatch(verifier):
            raise oauth_errors.InvalidGrantError(
                description="code_verifier must be 43 to 128 characters of A-Z, a-z, 0-9, '-', '.', '_' and '~'.",
                request=request,
            )
        return True

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        try:
            super().invalidate_authorization_code(client_id, code, request, *args, **kwargs)
        except oauth_errors.InvalidGrantError:
            # Two exchanges of one code at once: both passed validate_code, both saved tokens,
            # and the other one deleted the grant first. That is a replay too.
            get_refresh_token_model().revoke_family(code_family(code))
            raise

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        valid = super().validate_refresh_token(refresh_token, client, request, *args, **kwargs)
        return valid and _active(request.user)

    def _create_refresh_token(self, request, refresh_token_code, access_token, previous_refresh_token):
        created = super()._create_refresh_token(request, refresh_token_code, access_token, previous_refresh_token)
        if previous_refresh_token is None and request.grant_type == "authorization_code":
            # The first of a chain: name the chain after its code (see the module docstring).
            created.token_family = code_family(request.code)
            created.save(update_fields=["token_family"])
        return created

    def _save_bearer_token(self, token, request, *args, **kwargs):
        """Rotate a refresh token only if it is still live once locked.

        DOT checks the refresh token (``validate_refresh_token``) without a lock, then locks it
        here, in the transaction that writes the new pair, without checking again. A disconnect
        (``services.connected_app_revoke``) or an RFC 7009 revocation committed in between would
        still get the app a new, working pair. So the same rule is applied again under the lock.

        A rotation of the same token by a request sent at the same moment (two tabs, two tool
        calls) is refused too. DOT would answer it with the pair that rotation issued, but that
        pair is stored only as checksums and cannot be sent again (DOT sent blank tokens and its
        view failed, a 500); and had reuse protection revoked that pair meanwhile, DOT would mint
        a second one from the spent token. The refusal revokes nothing: the token was live when
        it was sent, so this is no replay of a used one; a token sent after the rotation
        committed is, and ``validate_refresh_token`` revokes its chain. (For the same reason
        DOT's ``REFRESH_TOKEN_GRACE_PERIOD_SECONDS`` stays 0: it answers with the previous pair.)
        """
        if "scope" in token:
            # The scope of the pair, stored and answered (oauthlib sends this same dict): once
            # each, whether it came from the grant, a refresh's ``scope`` or the token refreshed.
            token["scope"] = " ".join(distinct_scopes(token["scope"].split(" ")))
        previous = getattr(request, "refresh_token_instance", None)
        if previous is not None:
            current = get_refresh_token_model().objects.select_for_update().filter(pk=previous.pk).first()
            if current is None or current.revoked is not None or current.access_token_id is None:
                raise oauth_errors.InvalidGrantError(request=request)
        return super()._save_bearer_token(token, request, *args, **kwargs)
