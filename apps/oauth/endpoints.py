"""OAuth protocol endpoints: DOT's views with this server's throttles and registration rules.

Errors here are JSON: RFC 6749 / 7009 / 7591 error objects from DOT and oauthlib, and the
SPEC §1 envelope (via the API error middleware) for throttling and unknown paths.
"""

from __future__ import annotations

import json

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from oauth2_provider import views as dot_views
from oauthlib.oauth2.rfc6749 import errors as oauth_errors

from apps.oauth.registration import MetadataRejected, client_metadata_normalise
from apps.oauth.resources import DEFAULT_RESOURCE, PROTECTED_RESOURCES, public_base_url, resource_uri
from synchronex.api import errors
from synchronex.api.ratelimit import throttle_ip

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenView(dot_views.TokenView):
    """``/api/oauth/token``: authorization_code (PKCE S256) and refresh_token grants."""

    def post(self, request, *args, **kwargs):
        throttle_ip(request, group="oauth-token", rate=settings.OAUTH_TOKEN_RATE)
        if request.POST.get("grant_type") == DEVICE_CODE_GRANT:
            # DOT's view sends this grant to its device flow before oauthlib can refuse it; the
            # server class configured here has no device grant, so answer as oauthlib would.
            error = oauth_errors.UnsupportedGrantTypeError()
            return HttpResponse(error.json, status=error.status_code, content_type="application/json", headers=NO_STORE)
        return super().post(request, *args, **kwargs)


class RevokeView(dot_views.RevokeTokenView):
    """``/api/oauth/revoke`` (RFC 7009); revoking either token of a pair revokes both."""


def _metadata_error(rejected: MetadataRejected) -> JsonResponse:
    return JsonResponse({"error": rejected.error, "error_description": rejected.description}, status=400)


def _normalised_body(request) -> JsonResponse | None:
    """Check the RFC 7591 metadata; hand DOT only what it should act on, with our defaults."""
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return _metadata_error(MetadataRejected("invalid_client_metadata", "The request body must be valid JSON."))
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
        return super().post(request, *args, **kwargs)


class RegisterManageView(dot_views.DynamicClientRegistrationManagementView):
    """``/api/oauth/register/<client_id>`` (RFC 7592), with the registration rules on update."""

    def put(self, request, client_id, *args, **kwargs):
        throttle_ip(request, group="oauth-register", rate=settings.OAUTH_REGISTER_RATE)
        rejected = _normalised_body(request)
        if rejected is not None:
            return rejected
        return super().put(request, client_id, *args, **kwargs)


class ProtectedResourceMetadataView(dot_views.OAuthProtectedResourceMetadataView):
    """RFC 9728 metadata; the bare well-known path describes the REST API."""

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

    def get_resource_documentation(self):
        return f"{public_base_url()}/api/v1/docs" if self.resource_path == DEFAULT_RESOURCE else ""
