"""The protected resources this server issues tokens for (RFC 8707 / RFC 9728).

Each is a path under the public origin. Its metadata document lives at
``/.well-known/oauth-protected-resource/<path>``; the bare ``/.well-known/oauth-protected-resource``
describes the default one, the REST API. Another resource (the MCP endpoint) registers itself
with ``register_protected_resource`` from its app's ``ready()``.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.conf import settings

DEFAULT_RESOURCE = "api/v1"

# path (no leading slash) → human-readable name
PROTECTED_RESOURCES: dict[str, str] = {DEFAULT_RESOURCE: "Synchronex API"}
# path → the scopes its metadata advertises (called per request); absent: the whole catalogue
RESOURCE_SCOPES: dict[str, Callable[[], list[str]]] = {}


def register_protected_resource(path: str, name: str, scopes: Callable[[], list[str]] | None = None) -> None:
    """``scopes``, when given, lists what the resource needs; its ``scopes_supported`` says that
    rather than the catalogue, since clients following the MCP spec ask for what it lists."""
    PROTECTED_RESOURCES[path.strip("/")] = name
    if scopes is not None:
        RESOURCE_SCOPES[path.strip("/")] = scopes


def public_base_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/")


def resource_uri(path: str = DEFAULT_RESOURCE) -> str:
    """The resource identifier, e.g. ``https://synchronex.ai/api/v1``."""
    return f"{public_base_url()}/{path.strip('/')}"


def resource_metadata_url(path: str = DEFAULT_RESOURCE) -> str:
    """Where the RFC 9728 metadata of the resource at ``path`` is (§3.1: the well-known path
    inserted before the resource's path)."""
    return f"{public_base_url()}/.well-known/oauth-protected-resource/{path.strip('/')}"


def _comparable(uri) -> tuple | None:
    """``uri`` as RFC 3986 §6.2.2-6.2.3 normalise it (scheme and host case, default port, a trailing
    slash), or None for what names no resource here: a query or fragment, userinfo, no host."""
    if not isinstance(uri, str):
        return None
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:  # a port that is no number, a bracketed host that is no IP
        return None
    if parts.query or parts.fragment or "#" in uri or "@" in parts.netloc or not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname, port or {"http": 80, "https": 443}.get(scheme), parts.path.rstrip("/")


def served_resource(uri) -> str | None:
    """The path of the protected resource ``uri`` names (RFC 8707 §2), or None if this server serves
    none there: a token for it would be refused everywhere, so the client is told at once."""
    wanted = _comparable(uri)
    if wanted is None:
        return None
    return next((path for path in PROTECTED_RESOURCES if _comparable(resource_uri(path)) == wanted), None)
