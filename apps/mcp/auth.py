"""Bearer authentication for ``/mcp``: the API's tokens, bound to the MCP resource.

The same credentials as the REST API (``sx_live_`` keys, ``sxo_`` OAuth tokens) are accepted,
resolved by the same functions. The one difference: an OAuth token is checked against the MCP
resource identifier (``<PUBLIC_BASE_URL>/mcp``, RFC 8707), so a token an MCP client obtained for
this endpoint works here, and one narrowed to another resource does not.

Challenges follow the MCP authorization spec: every 401 names the RFC 9728 metadata document
(``resource_metadata``) from which a client discovers the authorization server and the scopes
the tools need (``scope``, so a client asks for those, not the whole catalogue), and a token that
lacks a tool's scope gets a 403 ``insufficient_scope`` challenge naming the scope, so clients that
support step-up authorization can ask the user for it.
"""

from __future__ import annotations

from apps.oauth.resources import resource_metadata_url as metadata_url
from apps.oauth.resources import resource_uri
from apps.oauth.services import oauth_token_authenticate
from synchronex.api import errors
from synchronex.api.authentication import REALM, BearerAuthentication, bearer_challenge, bearer_token, guarded

MCP_RESOURCE = "mcp"
OAUTH_PREFIX = "sxo_"


def resource_metadata_url() -> str:
    return metadata_url(MCP_RESOURCE)


def required_scopes() -> list[str]:
    """The scopes the tools need (importing the tools package registers them all)."""
    from .tools.registry import required_scopes as tools_scopes

    return tools_scopes()


def unauthorized_challenge(error: errors.ServiceError) -> str:
    """The ``WWW-Authenticate`` value of a 401, by the API's rule (``bearer_challenge``).

    ``scope`` names what the tools need (MCP 2025-11-25, "Scope Selection Strategy"): clients
    ask for exactly that, where without it they fall back to the metadata's list.
    """
    return bearer_challenge(error, resource=MCP_RESOURCE, scope=" ".join(required_scopes()))


def insufficient_scope_challenge(scope: str) -> str:
    return (
        f'Bearer realm="{REALM}", error="insufficient_scope", scope="{scope}", '
        f'resource_metadata="{resource_metadata_url()}", '
        f'error_description="This tool needs the {scope} scope"'
    )


class MissingToken(errors.MissingCredentials):
    """No ``Authorization`` header at all (the challenge then carries no error code)."""


def mcp_authenticate(request):
    """The credential of an ``/mcp`` request (``user``, ``allows(scope)``, ``actor``), or raise
    UNAUTHORIZED / TOKEN_EXPIRED. Session cookies are never accepted."""
    header = request.META.get("HTTP_AUTHORIZATION")
    if header is None:
        raise MissingToken("Authentication required: send Authorization: Bearer <token>.")
    token = bearer_token(header)
    if token is not None and token.startswith(OAUTH_PREFIX):
        return guarded(request, lambda: oauth_token_authenticate(raw_token=token, resource=resource_uri(MCP_RESOURCE)))
    # Every other token family (and every malformed header) goes through the API's own path.
    found = BearerAuthentication().authenticate(request)
    if found is None:  # pragma: no cover - the header is present, so the API path never returns None
        raise MissingToken()
    return found[1]
