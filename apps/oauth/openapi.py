"""The OAuth endpoints clients call directly (token, revocation, registration; SPEC §10) in the
OpenAPI document. They are django-oauth-toolkit views, not DRF ones, so drf-spectacular does not
see them: this postprocessing hook adds them, with the RFC 6749 / 7009 / 7591 bodies and error
objects they answer, and the SPEC §1 envelope for the size limit and the per-address throttles.
(The consent page, ``/oauth/authorize``, is a browser page: the ``oauth2`` scheme names it.)
"""

from __future__ import annotations

import copy

from django.urls import reverse

from apps.oauth.registration import MAX_NAME_LENGTH, MAX_REDIRECT_URIS, MAX_URI_LENGTH, SUPPORTED_GRANT_TYPES

TAG = "oauth"
FORM = "application/x-www-form-urlencoded"
ERROR_REF = {"$ref": "#/components/schemas/Error"}
OAUTH_ERROR_REF = {"$ref": "#/components/schemas/OAuthError"}
OAUTH_ERROR = {
    "type": "object",
    "description": "An OAuth error object (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 7591 §3.2.2).",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "e.g. invalid_request, invalid_grant, invalid_client_metadata"},
        "error_description": {"type": "string"},
        "error_uri": {"type": "string"},
    },
}
NO_STORE = {
    "Cache-Control": {"schema": {"type": "string", "enum": ["no-store"]}, "description": "RFC 6749 §5.1"},
    "Pragma": {"schema": {"type": "string", "enum": ["no-cache"]}},
}
CLIENT_CHALLENGE = {
    "WWW-Authenticate": {
        "schema": {"type": "string"},
        "description": "`Basic` for a client that authenticated with HTTP Basic, else `Bearer`.",
    }
}
TOKENS = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "scope", "refresh_token"],
    "properties": {
        "access_token": {"type": "string", "pattern": "^sxo_"},
        "token_type": {"type": "string", "enum": ["Bearer"]},
        "expires_in": {"type": "integer", "description": "Seconds the access token stays valid."},
        "scope": {"type": "string", "description": "The granted scopes, space-separated."},
        "refresh_token": {"type": "string", "pattern": "^sxr_", "description": "Single-use: rotates on refresh."},
    },
}
REDIRECT_URIS = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_REDIRECT_URIS,
    "uniqueItems": True,
    "items": {"type": "string", "maxLength": MAX_URI_LENGTH},
    "description": "https, or plain http on localhost, 127.0.0.1 or [::1]; ASCII; no fragment, user information "
    "or wildcard. Matched exactly at authorization.",
}
CLIENT = {
    "type": "object",
    "required": ["client_id", "redirect_uris", "grant_types", "token_endpoint_auth_method"],
    "properties": {
        "client_id": {"type": "string"},
        "client_name": {"type": "string", "maxLength": MAX_NAME_LENGTH},
        "redirect_uris": {"type": "array", "items": {"type": "string"}},
        "grant_types": {"type": "array", "items": {"type": "string", "enum": sorted(SUPPORTED_GRANT_TYPES)}},
        "token_endpoint_auth_method": {"type": "string", "enum": ["none"]},
        "registration_access_token": {
            "type": "string",
            "description": "For RFC 7592 client management; expires after OAUTH_REGISTRATION_TOKEN_SECONDS "
            "(30 days by default), and an update (PUT) answers a new one.",
        },
        "registration_client_uri": {"type": "string", "format": "uri"},
    },
}


def _error(description: str, schema: dict, headers: dict | None = None) -> dict:
    return {"description": description, "headers": headers or {}, "content": {"application/json": {"schema": schema}}}


THROTTLED = _error(
    "Too many requests from this address (RATE_LIMITED)",
    ERROR_REF,
    {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
)
TOO_LARGE = _error("Body over the size limit (PAYLOAD_TOO_LARGE)", ERROR_REF)


def _operation(summary: str, description: str, body: tuple[str, dict], responses: dict) -> dict:
    media_type, schema = body
    return {
        "operationId": "oauth_" + summary.lower().replace(" ", "_"),
        "summary": summary,
        "description": description,
        "tags": [TAG],
        "security": [],  # client credentials, if any, are in the body: public clients only
        "requestBody": {"required": True, "content": {media_type: {"schema": schema}}},
        "responses": {**responses, "413": TOO_LARGE},
    }


def oauth_paths() -> dict:
    token = _operation(
        "Token",
        "RFC 6749 §4.1.3 / §6: exchange an authorization code (with the PKCE `code_verifier`) or a refresh "
        "token for an access token (`sxo_…`) and a new refresh token (`sxr_…`; the old one stops working).",
        (
            FORM,
            {
                "type": "object",
                "required": ["grant_type", "client_id"],
                "properties": {
                    "grant_type": {"type": "string", "enum": sorted(SUPPORTED_GRANT_TYPES)},
                    "client_id": {"type": "string"},
                    "code": {"type": "string", "description": "authorization_code: the code from the redirect."},
                    "redirect_uri": {"type": "string", "description": "authorization_code: as in the request."},
                    "code_verifier": {"type": "string", "description": "authorization_code: the PKCE verifier."},
                    "refresh_token": {"type": "string", "description": "refresh_token: the current refresh token."},
                    "scope": {"type": "string", "description": "refresh_token: a subset of the granted scopes."},
                    "resource": {"type": "string", "description": "RFC 8707: the protected resource (optional)."},
                },
            },
        ),
        {
            "200": {
                "description": "The tokens",
                "headers": NO_STORE,
                "content": {"application/json": {"schema": TOKENS}},
            },
            "400": _error("invalid_request, invalid_grant, unsupported_grant_type, …", OAUTH_ERROR_REF, NO_STORE),
            "401": _error(
                "invalid_client: unknown, or not a public client", OAUTH_ERROR_REF, {**NO_STORE, **CLIENT_CHALLENGE}
            ),
            "429": THROTTLED,
        },
    )
    revoke = _operation(
        "Revoke",
        "RFC 7009: revoke an access or refresh token; either revokes both of its pair. An unknown token is "
        "answered 200 as well.",
        (
            FORM,
            {
                "type": "object",
                "required": ["token", "client_id"],
                "properties": {
                    "token": {"type": "string"},
                    "token_type_hint": {"type": "string", "enum": ["access_token", "refresh_token"]},
                    "client_id": {"type": "string"},
                },
            },
        ),
        {
            "200": {"description": "Revoked (or unknown)"},
            "400": _error("invalid_request, unsupported_token_type", OAUTH_ERROR_REF),
            "401": _error("invalid_client", OAUTH_ERROR_REF, CLIENT_CHALLENGE),
        },
    )
    register = _operation(
        "Register",
        "RFC 7591 dynamic registration of a public client (authorization code with PKCE, refresh tokens). "
        "Metadata this server does not use (logo_uri, contacts, scope, …) is ignored. A client that no account "
        "authorizes or uses is deleted OAUTH_UNUSED_CLIENT_DAYS (30 by default) after registering.",
        (
            "application/json",
            {
                "type": "object",
                "required": ["redirect_uris"],
                "properties": {
                    "redirect_uris": REDIRECT_URIS,
                    "client_name": {"type": "string", "maxLength": MAX_NAME_LENGTH},
                    "token_endpoint_auth_method": {"type": "string", "enum": ["none"]},
                    "grant_types": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "enum": sorted(SUPPORTED_GRANT_TYPES)},
                        "contains": {"const": "authorization_code"},
                    },
                    "response_types": {"type": "array", "minItems": 1, "items": {"type": "string", "enum": ["code"]}},
                },
            },
        ),
        {
            "201": {
                "description": "The registered client",
                "headers": NO_STORE,
                "content": {"application/json": {"schema": CLIENT}},
            },
            "400": _error("invalid_redirect_uri or invalid_client_metadata", OAUTH_ERROR_REF, NO_STORE),
            "429": THROTTLED,
        },
    )
    return {
        reverse("oauth2_provider:token"): {"post": token},
        reverse("oauth2_provider:revoke-token"): {"post": revoke},
        reverse("oauth2_provider:dcr-register"): {"post": register},
    }


def add_oauth_endpoints(result, generator, request, public):
    """drf-spectacular postprocessing hook (before ``add_common_responses``, which adds X-Request-ID)."""
    # A copy: the later hook adds headers to these responses, which share the constants above.
    result.setdefault("paths", {}).update(copy.deepcopy(oauth_paths()))
    result.setdefault("components", {}).setdefault("schemas", {})["OAuthError"] = OAUTH_ERROR
    return result
