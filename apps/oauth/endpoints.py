"""OAuth protocol endpoints: DOT's views with this server's throttles and registration rules.

Errors here are JSON: RFC 6749 / 7009 / 7591 error objects from DOT and oauthlib, and the
SPEC §1 envelope (via the API error middleware) for throttling and unknown paths.
"""

from __future__ import annotations

import io
import json
import re

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http import HttpResponse, JsonResponse
from oauth2_provider import views as dot_views
from oauth2_provider.models import get_access_token_model
from oauthlib.oauth2.rfc6749 import errors as oauth_errors
from rest_framework.exceptions import ParseError

from apps.oauth.readable import unreadable_reason
from apps.oauth.registration import MetadataRejected, client_metadata_normalise
from apps.oauth.resources import (
    DEFAULT_RESOURCE,
    PROTECTED_RESOURCES,
    RESOURCE_SCOPES,
    public_base_url,
    resource_uri,
)
from apps.oauth.validators import OAuth2Validator
from synchronex.api import errors
from synchronex.api.parsers import StrictJSONParser, refuse_encoded_body
from synchronex.api.ratelimit import throttle_ip

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
REALM = "synchronex"  # as in the API's and /mcp's Bearer challenges
PARAMETER_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
# RFC 6749 §5.2: the characters an error_description may hold.
DESCRIPTION_CHARACTERS = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]*")
JSON_REQUIRED = "The body must be JSON (Content-Type: application/json)."
# The bodies Django reads as a form (request.POST), which is where DOT reads the parameters from.
FORM_CONTENT_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
FORM_REQUIRED = "The body must be form-encoded (Content-Type: application/x-www-form-urlencoded)."


def _oauth_error(error: oauth_errors.OAuth2Error) -> HttpResponse:
    """An RFC 6749 §5.2 error answer, as oauthlib renders its own."""
    return HttpResponse(error.json, status=error.status_code, content_type="application/json", headers=NO_STORE)


def _unreadable(view, request) -> HttpResponse | None:
    reason = unreadable_reason(view, request)
    if reason is None:
        reason = _repeated_parameter(request)
    return None if reason is None else _oauth_error(oauth_errors.InvalidRequestError(description=reason))


def _encoded(request, error: str = "invalid_request") -> HttpResponse | None:
    """The REST API's refusal of a body with a Content-Encoding (``refuse_encoded_body``: 415 with
    ``Accept-Encoding: identity``) as an OAuth error object: read as if plain, a gzip body was "not
    valid UTF-8" and a plain body declared ``br`` registered a client."""
    try:
        refuse_encoded_body(request)
    except errors.UnsupportedMediaType as refused:
        # The coding is the client's header, named only when an error_description can hold it.
        fits = DESCRIPTION_CHARACTERS.fullmatch(refused.message)
        description = refused.message if fits else "The request body has a Content-Encoding; send it uncompressed."
        body = {"error": error, "error_description": description}
        return JsonResponse(body, status=415, headers={**NO_STORE, **refused.headers})
    return None


def _not_a_token_request(request) -> str | None:
    """Why ``request`` names no grant at all, or None: RFC 6749 §5.2 calls that ``invalid_request``,
    keeping ``unsupported_grant_type`` for a grant_type this server does not know.

    Its parameters are sent form-encoded (§3.2, §4.1.3). Django reads no form from another body
    (JSON, say), so DOT saw no grant_type and oauthlib answered ``unsupported_grant_type``, which
    sent clients looking for the wrong mistake. A grant_type sent empty is as if omitted (§3.1).
    ``multipart/form-data``, which RFC 6749 does not name, stays accepted: Django reads it as a form
    as DOT always did.
    """
    if request.content_type and request.content_type not in FORM_CONTENT_TYPES:
        return FORM_REQUIRED
    if not request.POST.get("grant_type"):
        return "Missing grant_type parameter."
    return None


def _repeated_parameter(request) -> str | None:
    """RFC 6749 §3.1-3.2: no parameter may be sent twice, but ``resource`` (RFC 8707). DOT keeps only
    the last value of each (``OAuthLibCore.extract_body``), so oauthlib, which checks a few of them,
    never sees a repeat, and an ambiguous request would be read as its last values."""
    for name, values in request.POST.lists():
        if len(values) > 1 and name != "resource":
            # Named only when it is a plain parameter name: an error_description holds no quote.
            return f"Duplicate {name} parameter." if PARAMETER_NAME.fullmatch(name) else "A parameter is repeated."
    return None


class TokenView(dot_views.TokenView):
    """``/api/oauth/token``: authorization_code (PKCE S256) and refresh_token grants."""

    validator_class = OAuth2Validator

    def post(self, request, *args, **kwargs):
        throttle_ip(request, group="oauth-token", rate=settings.OAUTH_TOKEN_RATE)
        unreadable = _encoded(request) or _unreadable(self, request)
        if unreadable is not None:
            return unreadable
        reason = _not_a_token_request(request)
        if reason is not None:
            return _oauth_error(oauth_errors.InvalidRequestError(description=reason))
        if request.POST.get("grant_type") == DEVICE_CODE_GRANT:
            # DOT's view sends this grant to its device flow before oauthlib can refuse it; the
            # server class configured here has no device grant, so answer as oauthlib would.
            return _oauth_error(oauth_errors.UnsupportedGrantTypeError())
        return super().post(request, *args, **kwargs)

    def authorization_flow_token_response(self, request, *args, **kwargs):
        try:
            return super().authorization_flow_token_response(request, *args, **kwargs)
        except get_access_token_model().DoesNotExist:
            # DOT looks the new access token up again once committed, to send app_authorized. A
            # replay that came in meanwhile (of the code, or of the refresh token, by the other
            # request of a race) has revoked the chain, this pair with it.
            return _oauth_error(oauth_errors.InvalidGrantError())

    def create_token_response(self, request):
        url, headers, body, status = super().create_token_response(request)
        if status >= 400:
            # An error raised while the tokens are saved (validators.OAuth2Validator) comes back
            # from DOT with the error's own headers only, without oauthlib's JSON defaults.
            headers = {"Content-Type": "application/json", **NO_STORE, **headers}
        return url, _basic_challenged(request, headers, status), body, status


def _basic_challenged(request, headers: dict, status: int) -> dict:
    """RFC 6749 §5.2: a 401 ``invalid_client`` for a client that authenticated with HTTP Basic is
    challenged with Basic; oauthlib always writes a Bearer challenge, no client authentication
    scheme. (Clients here are public and send no secret: such a client is unknown or not public.)"""
    scheme = request.headers.get("Authorization", "").split(" ", 1)[0]
    if status == 401 and scheme.lower() == "basic":
        return {**headers, "WWW-Authenticate": f'Basic realm="{REALM}"'}
    return headers


class RevokeView(dot_views.RevokeTokenView):
    """``/api/oauth/revoke`` (RFC 7009); revoking either token of a pair revokes both."""

    # This server's client lookup too (a client_id with a NUL is unknown, not a 500).
    validator_class = OAuth2Validator

    def create_revocation_response(self, request):
        url, headers, body, status = super().create_revocation_response(request)
        return url, _basic_challenged(request, headers, status), body, status

    def post(self, request, *args, **kwargs):
        unreadable = _encoded(request) or _unreadable(self, request)
        if unreadable is not None:
            return unreadable
        return super().post(request, *args, **kwargs)


def _no_store(response: HttpResponse) -> HttpResponse:
    """RFC 7591 §3.2.1 (RFC 6749 §5.1): registration answers carry the registration access token,
    which no cache may keep; its errors are marked alike, as the token endpoint's are."""
    for name, value in NO_STORE.items():
        response[name] = value
    return response


def _metadata_error(rejected: MetadataRejected) -> JsonResponse:
    body = {"error": rejected.error, "error_description": rejected.description}
    return JsonResponse(body, status=400, headers=NO_STORE)


def _normalised_body(request, client_id: str | None = None) -> HttpResponse | None:
    """Check the RFC 7591 metadata; hand DOT only what it should act on, with our defaults.
    With ``client_id`` (an RFC 7592 update), the body must name that client (§2.2).

    The body is read by the API's JSON parser, so the same bodies are refused here as on the
    API: one with a Content-Encoding or not sent as JSON (415), invalid UTF-8 or JSON, absurd
    nesting, and lone surrogates, which PostgreSQL cannot store.
    """
    encoded = _encoded(request, "invalid_client_metadata")
    if encoded is not None:
        return encoded
    if request.body and request.content_type != "application/json":
        # RFC 7591 §3.1: the metadata is sent as application/json; text/plain was read as JSON all the same.
        body = {"error": "invalid_client_metadata", "error_description": JSON_REQUIRED}
        return JsonResponse(body, status=415, headers=NO_STORE)
    try:
        data = StrictJSONParser().parse(io.BytesIO(request.body), parser_context={"request": request})
    except ParseError as exc:
        return _metadata_error(
            MetadataRejected("invalid_client_metadata", f"The request body must be valid JSON: {exc.detail}")
        )
    if client_id is not None and isinstance(data, dict) and data.get("client_id") != client_id:
        # A client that holds several registrations would otherwise update another than it means.
        description = "client_id is required in an update and must be the client_id of this registration."
        return _metadata_error(MetadataRejected("invalid_client_metadata", description))
    try:
        normalised = client_metadata_normalise(data)
    except MetadataRejected as rejected:
        return _metadata_error(rejected)
    # DOT's view parses request.body itself; give it the checked metadata instead.
    request._body = json.dumps(normalised).encode("utf-8")
    return None


class RegisterView(dot_views.DynamicClientRegistrationView):
    """``/api/oauth/register`` (RFC 7591): open registration of public clients, throttled per IP."""

    def post(self, request, *args, **kwargs):
        throttle_ip(request, group="oauth-register", rate=settings.OAUTH_REGISTER_RATE)
        rejected = _normalised_body(request)
        if rejected is not None:
            return rejected
        # Registration is anonymous (open, RFC 7591): DOT made the account of a signed-in browser
        # session the app's owner and the holder of its registration token. The app was then listed
        # among that account's connected apps, never authorized there, and deleting the account
        # deleted the app (``Application.user`` cascades) with every other account's tokens for it.
        request.user = AnonymousUser()
        return _no_store(super().post(request, *args, **kwargs))


class RegisterManageView(dot_views.DynamicClientRegistrationManagementView):
    """``/api/oauth/register/<client_id>`` (RFC 7592), with the registration rules on update."""

    def get(self, request, client_id, *args, **kwargs):
        return _no_store(super().get(request, client_id, *args, **kwargs))

    def put(self, request, client_id, *args, **kwargs):
        throttle_ip(request, group="oauth-register", rate=settings.OAUTH_REGISTER_RATE)
        # The registration access token before the body (RFC 7592 §2): without it, 401 invalid_token
        # whatever the body holds, so a caller without the token learns nothing of the metadata rules.
        # (GET and DELETE read no body: DOT checks the token first there.)
        registration = self._authenticate_registration_request(request, client_id)
        if isinstance(registration, HttpResponse):
            return _no_store(registration)
        rejected = _normalised_body(request, client_id)
        if rejected is not None:
            return rejected
        return _no_store(super().put(request, client_id, *args, **kwargs))

    def _authenticate_registration_request(self, request, client_id):
        # Once per request: ``put`` checks the token before the body, then DOT's ``put`` asks again.
        if not hasattr(self, "_registration"):
            self._registration = super()._authenticate_registration_request(request, client_id)
        return self._registration

    def delete(self, request, client_id, *args, **kwargs):
        return _no_store(super().delete(request, client_id, *args, **kwargs))


class PublicDocument:
    """A discovery document any origin may read. DOT sends ``Access-Control-Allow-Origin: *`` with
    the GET; a browser client that sends a header of its own (``MCP-Protocol-Version``) asks first
    with a CORS preflight, which Django's OPTIONS would answer with ``Allow`` only."""

    def options(self, request, *args, **kwargs):
        response = super().options(request, *args, **kwargs)
        response["Access-Control-Allow-Origin"] = "*"
        response["Access-Control-Allow-Methods"] = "GET, HEAD, OPTIONS"
        requested = request.headers.get("Access-Control-Request-Headers")
        if requested:
            # Nothing here depends on a request header, so whatever the client sends is fine.
            response["Access-Control-Allow-Headers"] = requested
        response["Access-Control-Max-Age"] = "86400"
        return response


class ServerMetadataView(PublicDocument, dot_views.OAuthServerMetadataView):
    """RFC 8414 metadata, saying which response modes are answered: left out, §2 would mean
    ["query", "fragment"] (validators.OAuth2Validator refuses any but the query)."""

    def get(self, request, *args, **kwargs):
        response = super().get(request, *args, **kwargs)
        # DOT builds the document in one piece, with no hook for another field.
        document = {**json.loads(response.content), "response_modes_supported": ["query"]}
        return JsonResponse(document, headers={"Access-Control-Allow-Origin": "*"})


class ProtectedResourceMetadataView(PublicDocument, dot_views.OAuthProtectedResourceMetadataView):
    """RFC 9728 metadata; the bare well-known path describes the REST API, which advertises the
    whole scope catalogue; a resource registered with its own scopes (``/mcp``) lists those."""

    def get(self, request, *args, **kwargs):
        path = (kwargs.get("resource_path") or DEFAULT_RESOURCE).strip("/")
        if path not in PROTECTED_RESOURCES:
            raise errors.NotFound("No protected resource at this path.")
        self.resource_path = path
        return super().get(request, *args, **kwargs)

    def get_resource(self, request):
        return resource_uri(self.resource_path)

    def get_resource_name(self):
        return PROTECTED_RESOURCES[self.resource_path]

    def get_scopes_supported(self):
        scopes = RESOURCE_SCOPES.get(self.resource_path)
        return scopes() if scopes is not None else super().get_scopes_supported()

    def get_resource_documentation(self):
        return f"{public_base_url()}/api/v1/docs" if self.resource_path == DEFAULT_RESOURCE else ""
