"""RFC 7591 client metadata rules, checked before django-oauth-toolkit creates the client.

Only public clients using the authorization code grant (with refresh) may register. Redirect
URIs must be absolute https URIs, or plain http on a loopback host (RFC 8252 §7.3), with no
fragment, no user information, no wildcard and no whitespace (DOT stores them space-separated),
no backslash or "%" in the host, and valid by oauthlib's own RFC 3986 check, the one each authorization
request's redirect_uri must pass.
They must be ASCII: an authorization request's redirect_uri is compared with the registered one
as sent, and clients send an internationalised host in punycode and a path percent-encoded, so a
Unicode URI could be registered but never used; the refusal names the ASCII form to register.
Metadata this server does not use (logo_uri, contacts, scope, …) is ignored, as RFC 7591 §2 asks.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from oauthlib.uri_validate import is_absolute_uri

from apps.products.names import format_character_problem, has_control_character, trim_name

MAX_REDIRECT_URIS = 10
MAX_URI_LENGTH = 2000
MAX_NAME_LENGTH = 100
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
FORBIDDEN_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "blob"})
SUPPORTED_GRANT_TYPES = frozenset({"authorization_code", "refresh_token"})
# RFC 3986 characters kept as they are when a path or query is percent-encoded (besides
# letters, digits and "_.-~"); "%" too, so what is already encoded stays so.
URI_SAFE = "/%:@!$&'()*+,;="


@dataclass
class MetadataRejected(Exception):
    """A registration request that breaks the rules; ``error`` is an RFC 7591 §3.2.2 code."""

    error: str
    description: str


def _bad_metadata(description: str) -> MetadataRejected:
    return MetadataRejected("invalid_client_metadata", description)


def redirect_uri_problem(uri) -> str | None:
    """Why ``uri`` cannot be registered as a redirect URI, or None when it can."""
    if not isinstance(uri, str) or not uri:
        return "must be a non-empty string"
    if len(uri) > MAX_URI_LENGTH:
        return f"must be at most {MAX_URI_LENGTH} characters"
    if any(ch.isspace() or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in uri):
        return "must not contain spaces or control characters"
    scheme = uri.partition(":")[0].lower() if ":" in uri else ""
    if scheme in FORBIDDEN_SCHEMES:
        return f"the {scheme}: scheme is not allowed"
    if "#" in uri:
        return "must not contain a fragment (#…)"
    if not uri.startswith(("https://", "http://")):
        return "must start with https:// (or http:// on localhost, 127.0.0.1 or [::1])"
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return "is not a valid URI"
    if "@" in parts.netloc:
        return "must not contain user information (user@host)"
    if "*" in parts.netloc:
        return "must not contain wildcards"
    # RFC 7591 §3.2.2 asks to refuse URIs that could not work or would mislead. A backslash in the
    # authority is no URI (oauthlib refuses it at every authorization; browsers read it as "/"),
    # and no host name holds a "%": ``trusted.example%40evil.example`` would be named on the
    # consent page as a host the user trusts.
    if "\\" in parts.netloc:
        return "must not contain a backslash (\\) in its host"
    if "%" in parts.netloc:
        return "must not contain % in its host (percent-encoding is for the path and query)"
    if not parts.hostname:
        return "must name a host"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        return "plain http is allowed only on localhost, 127.0.0.1 and [::1]; use https"
    if not uri.isascii():
        ascii_form = _ascii_form(parts)
        advice = f": register {ascii_form}" if ascii_form else ""
        return f"({uri}) must be ASCII, its host in punycode and other characters percent-encoded{advice}"
    if not is_absolute_uri(uri):
        # oauthlib's own check of every authorization request's redirect_uri: one it refuses
        # could be registered but never used.
        return "is not a valid URI (RFC 3986): percent-encode other characters, and % only as %XX"
    return None


def _ascii_form(parts) -> str | None:
    """The URI with its host in punycode (IDNA) and its path and query percent-encoded (UTF-8),
    as clients send it; None when the host is no valid IDNA name."""
    try:
        host = parts.hostname.encode("idna").decode("ascii")
    except UnicodeError:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if parts.port is not None:
        netloc += f":{parts.port}"
    path, query = quote(parts.path, safe=URI_SAFE), quote(parts.query, safe=URI_SAFE + "?")
    return urlunsplit((parts.scheme, netloc, path, query, ""))


def _check_redirect_uris(value) -> list[str]:
    if value is None:
        raise MetadataRejected("invalid_redirect_uri", "redirect_uris is required.")
    if not isinstance(value, list) or not value:
        raise MetadataRejected("invalid_redirect_uri", "redirect_uris must be a non-empty array of URIs.")
    if len(value) > MAX_REDIRECT_URIS:
        raise MetadataRejected("invalid_redirect_uri", f"Register at most {MAX_REDIRECT_URIS} redirect URIs.")
    for index, uri in enumerate(value):
        problem = redirect_uri_problem(uri)
        if problem:
            raise MetadataRejected("invalid_redirect_uri", f"redirect_uris[{index}] {problem}.")
    if len(set(value)) != len(value):
        raise MetadataRejected("invalid_redirect_uri", "redirect_uris must not repeat a URI.")
    return list(value)


def _check_string_list(data: dict, field: str) -> list[str] | None:
    value = data.get(field)
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise _bad_metadata(f"{field} must be a non-empty array of strings.")
    return value


def no_secret_for_public_clients(sender, instance, **kwargs) -> None:
    """``pre_save`` of DOT's Application (connected in ``OAuthConfig.ready``): a public client
    registered here is stored without a secret. DOT gives every new application a random one and
    hashes it (PBKDF2, a million iterations: 0.3-0.75 s of CPU) in ``save()``, which its
    registration view calls with no hook in between; a public client authenticates with its
    client_id alone and is never shown that secret, so each unauthenticated registration paid for
    nothing. Applications made in the admin (confidential ones too) keep DOT's behaviour."""
    if (
        instance._state.adding
        and instance.registration_source == instance.RegistrationSource.DCR
        and instance.client_type == instance.CLIENT_PUBLIC
    ):
        instance.client_secret = ""
        instance.hash_client_secret = False


def client_metadata_normalise(data) -> dict:
    """Check registration metadata; return the subset, with defaults, that DOT should see."""
    if not isinstance(data, dict):
        raise _bad_metadata("The request body must be a JSON object.")
    redirect_uris = _check_redirect_uris(data.get("redirect_uris"))

    auth_method = data.get("token_endpoint_auth_method", "none")
    if auth_method != "none":
        raise _bad_metadata("Only public clients may register: token_endpoint_auth_method must be 'none'.")

    grant_types = _check_string_list(data, "grant_types") or ["authorization_code", "refresh_token"]
    unsupported = sorted(set(grant_types) - SUPPORTED_GRANT_TYPES)
    if unsupported:
        raise _bad_metadata(f"Unsupported grant_types: {', '.join(unsupported)}; use authorization_code.")
    if "authorization_code" not in grant_types:
        raise _bad_metadata("grant_types must include authorization_code.")

    response_types = _check_string_list(data, "response_types") or ["code"]
    if set(response_types) != {"code"}:
        raise _bad_metadata("response_types must be ['code'].")

    name = data.get("client_name", "")
    if not isinstance(name, str):
        raise _bad_metadata("client_name must be a string.")
    # The rule of workspace and product names: the consent page shows this name, and a bidi
    # override or an invisible character in it would change what the user reads.
    name = trim_name(name)
    if len(name) > MAX_NAME_LENGTH:
        raise _bad_metadata(f"client_name must be at most {MAX_NAME_LENGTH} characters.")
    if has_control_character(name):
        raise _bad_metadata("client_name must not contain control characters.")
    if problem := format_character_problem("client_name", name):
        raise _bad_metadata(problem)

    normalised = {
        "redirect_uris": redirect_uris,
        "grant_types": ["authorization_code", "refresh_token"],
        "token_endpoint_auth_method": "none",
    }
    if name:
        normalised["client_name"] = name
    return normalised
