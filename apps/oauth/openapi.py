"""The OAuth endpoints clients call directly (token, revocation, registration and its RFC 7592
client configuration endpoint; SPEC §10) in the OpenAPI document. They are django-oauth-toolkit
views, not DRF ones, so drf-spectacular does not see them: this postprocessing hook adds them, with
the RFC 6749 / 7009 / 7591 / 7592 bodies and error objects they answer, and the SPEC §1 envelope for
the size limit and the per-address throttles.
(The consent page, ``/oauth/authorize``, is a browser page: the ``oauth2`` scheme names it.)
"""

from __future__ import annotations

import copy
from urllib.parse import unquote

from django.urls import reverse

from apps.oauth.registration import MAX_NAME_LENGTH, MAX_REDIRECT_URIS, MAX_URI_LENGTH, SUPPORTED_GRANT_TYPES
from synchronex.api.openapi import ACCEPT_ENCODING_HEADER

TAG = "oauth"
FORM = "application/x-www-form-urlencoded"
ERROR_REF = {"$ref": "#/components/schemas/Error"}
OAUTH_ERROR_REF = {"$ref": "#/components/schemas/OAuthError"}
OAUTH_ERROR = {
    "type": "object",
    "description": "An OAuth error object (RFC 6749 §5.2, RFC 7009 §2.2.1, RFC 7591 §3.2.2, RFC 6750 §3.1).",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "string",
            "description": "e.g. invalid_request, invalid_grant, invalid_client_metadata, invalid_token",
        },
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
CLIENT_REF = {"$ref": "#/components/schemas/OAuthClient"}
CLIENT = {
    "type": "object",
    "description": "A registered client (RFC 7591 §3.2.1, RFC 7592 §3).",
    "required": ["client_id", "redirect_uris", "grant_types", "token_endpoint_auth_method"],
    "properties": {
        "client_id": {"type": "string"},
        "client_name": {"type": "string", "maxLength": MAX_NAME_LENGTH},
        "redirect_uris": {"type": "array", "items": {"type": "string"}},
        "grant_types": {"type": "array", "items": {"type": "string", "enum": sorted(SUPPORTED_GRANT_TYPES)}},
        "token_endpoint_auth_method": {"type": "string", "enum": ["none"]},
        "registration_access_token": {
            "type": "string",
            "description": "For RFC 7592 client management (the `registrationToken` scheme); expires after "
            "OAUTH_REGISTRATION_TOKEN_SECONDS (30 days by default), and an update (PUT) answers a new one.",
        },
        "registration_client_uri": {
            "type": "string",
            "format": "uri",
            "description": "The client configuration endpoint (RFC 7592): `/api/oauth/register/{client_id}`.",
        },
    },
}
# The registration request (RFC 7591 §2); an update sends it whole, naming its client (RFC 7592 §2.2).
METADATA = {
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
}
UPDATE = {
    **METADATA,
    "required": ["client_id", *METADATA["required"]],
    "properties": {
        "client_id": {"type": "string", "description": "This registration's client_id; any other is refused."},
        **METADATA["properties"],
    },
}
REGISTRATION_SCHEME = "registrationToken"
REGISTRATION_TOKEN = {
    "type": "http",
    "scheme": "bearer",
    "description": "RFC 7592: the `registration_access_token` of a registration (answered by `POST "
    "/api/oauth/register`, and anew by each update), sent as `Authorization: Bearer`. It opens only that "
    "client's configuration endpoint, its `registration_client_uri`.",
}
CLIENT_ID = {
    "name": "client_id",
    "in": "path",
    "required": True,
    "description": "The client_id of the registration (the last segment of its `registration_client_uri`).",
    "schema": {"type": "string"},
}


def _error(description: str, schema: dict, headers: dict | None = None) -> dict:
    return {"description": description, "headers": headers or {}, "content": {"application/json": {"schema": schema}}}


THROTTLED = _error(
    "Too many requests from this address (RATE_LIMITED)",
    ERROR_REF,
    {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
)
TOO_LARGE = _error("Body over the size limit (PAYLOAD_TOO_LARGE)", ERROR_REF)
ENCODED = "a body with a Content-Encoding other than identity: send it uncompressed (as on the REST API)"
IDENTITY_ONLY = {**NO_STORE, "Accept-Encoding": ACCEPT_ENCODING_HEADER}
UNSUPPORTED = _error(f"invalid_request: {ENCODED}", OAUTH_ERROR_REF, IDENTITY_ONLY)
METADATA_UNSUPPORTED = _error(
    f"invalid_client_metadata: {ENCODED}; or a body not sent as `application/json`", OAUTH_ERROR_REF, IDENTITY_ONLY
)
INVALID_TOKEN = _error(
    "invalid_token: no registration access token, or not this client's (unknown, expired, replaced by an "
    "update, or its client deleted); the body is not read",
    OAUTH_ERROR_REF,
    {
        **NO_STORE,
        "WWW-Authenticate": {"schema": {"type": "string"}, "description": '`Bearer error="invalid_token", …`'},
    },
)


def _operation(summary: str, description: str, body: tuple[str, dict] | None, responses: dict) -> dict:
    operation = {
        "operationId": "oauth_" + summary.lower().replace(" ", "_"),
        "summary": summary,
        "description": description,
        "tags": [TAG],
        "security": [],  # client credentials, if any, are in the body: public clients only
    }
    if body is not None:
        media_type, schema = body
        operation["requestBody"] = {"required": True, "content": {media_type: {"schema": schema}}}
    operation["responses"] = {**responses, "413": TOO_LARGE}
    return operation


def _configuration(summary: str, description: str, body: tuple[str, dict] | None, responses: dict) -> dict:
    """An RFC 7592 operation on one registration, which its registration access token opens."""
    operation = _operation(summary, description, body, {**responses, "401": INVALID_TOKEN})
    operation["security"] = [{REGISTRATION_SCHEME: []}]
    operation["parameters"] = [CLIENT_ID]
    return operation


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
            "415": UNSUPPORTED,
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
            "415": UNSUPPORTED,
        },
    )
    register = _operation(
        "Register",
        "RFC 7591 dynamic registration of a public client (authorization code with PKCE, refresh tokens). "
        "Metadata this server does not use (logo_uri, contacts, scope, …) is ignored. A client that no account "
        "authorizes or uses is deleted OAUTH_UNUSED_CLIENT_DAYS (30 by default) after registering.",
        ("application/json", METADATA),
        {
            "201": {
                "description": "The registered client",
                "headers": NO_STORE,
                "content": {"application/json": {"schema": CLIENT_REF}},
            },
            "400": _error("invalid_redirect_uri or invalid_client_metadata", OAUTH_ERROR_REF, NO_STORE),
            "415": METADATA_UNSUPPORTED,
            "429": THROTTLED,
        },
    )
    the_client = {
        "description": "The client",
        "headers": NO_STORE,
        "content": {"application/json": {"schema": CLIENT_REF}},
    }
    read = _configuration(
        "Read registration",
        "RFC 7592 §2.1: the client's current metadata, with the registration access token that was sent "
        "(it stays valid).",
        None,
        {"200": the_client},
    )
    update = _configuration(
        "Update registration",
        "RFC 7592 §2.2: replace the client's metadata with the body, checked as a registration is (what it "
        "leaves out takes its default); the body must name this registration's `client_id`. The answer holds "
        "a new registration access token, valid for OAUTH_REGISTRATION_TOKEN_SECONDS again; the one sent stops "
        "working. The token is checked before the body, and the address is throttled as registration is.",
        ("application/json", UPDATE),
        {
            "200": the_client,
            "400": _error(
                "invalid_redirect_uri or invalid_client_metadata; nothing changes", OAUTH_ERROR_REF, NO_STORE
            ),
            "415": METADATA_UNSUPPORTED,
            "429": THROTTLED,
        },
    )
    delete = _configuration(
        "Delete registration",
        "RFC 7592 §2.3: delete the client and every token and grant issued to it; its registration access "
        "token stops working.",
        None,
        {"204": {"description": "Deleted", "headers": NO_STORE}},
    )
    # reverse() percent-encodes the braces of the path template.
    configuration = unquote(reverse("oauth2_provider:dcr-register-management", kwargs={"client_id": "{client_id}"}))
    return {
        reverse("oauth2_provider:token"): {"post": token},
        reverse("oauth2_provider:revoke-token"): {"post": revoke},
        reverse("oauth2_provider:dcr-register"): {"post": register},
        configuration: {"get": read, "put": update, "delete": delete},
    }


def add_oauth_endpoints(result, generator, request, public):
    """drf-spectacular postprocessing hook (before ``add_common_responses``, which adds X-Request-ID)."""
    # A copy: the later hook adds headers to these responses, which share the constants above.
    result.setdefault("paths", {}).update(copy.deepcopy(oauth_paths()))
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update({"OAuthError": OAUTH_ERROR, "OAuthClient": CLIENT})
    components.setdefault("securitySchemes", {})[REGISTRATION_SCHEME] = REGISTRATION_TOKEN
    return result
