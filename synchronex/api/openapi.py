"""OpenAPI post-processing: the error responses, headers and security every operation shares."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter
from jsonschema import Draft202012Validator

from apps.oauth.resources import public_base_url
from apps.products.models import NAME_MAX
from apps.scopes.selectors import NOTICE_HEADER, SCOPE_HEADER
from synchronex.api.idempotency import KEY as IDEMPOTENCY_KEY
from synchronex.api.idempotency import KEY_MAX
from synchronex.api.permissions import api_key_only, required_scope_for, required_tier_for
from synchronex.api.request_id import SANE as SANE_REQUEST_ID
from synchronex.api.scopes import SCOPES, is_read_scope

# A string the server trims and then refuses when blank: it must hold a non-space character.
NOT_BLANK = r"\S"
# A product name in a path or query, the one schema of them all: ``apps.products.names`` trims it,
# then takes 1–NAME_MAX characters (and refuses control and invisible ones, which this leaves unsaid).
PRODUCT_NAME = {"type": "string", "minLength": 1, "maxLength": NAME_MAX, "pattern": NOT_BLANK}
# The same where the empty string means "no product" (the kernel export's ``product``).
PRODUCT_NAME_OR_EMPTY = {**PRODUCT_NAME, "minLength": 0, "pattern": rf"^$|{NOT_BLANK}"}

ERROR_REF = {"$ref": "#/components/schemas/Error"}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {
                    "type": "string",
                    "enum": [
                        "VALIDATION_ERROR",
                        "UNAUTHORIZED",
                        "TOKEN_EXPIRED",
                        "FORBIDDEN",
                        "TIER_REQUIRED",
                        "NOT_FOUND",
                        "METHOD_NOT_ALLOWED",
                        "CONFLICT",
                        "PRECONDITION_FAILED",
                        "PAYLOAD_TOO_LARGE",
                        "UNSUPPORTED_MEDIA_TYPE",
                        "RATE_LIMITED",
                        "SERVICE_UNAVAILABLE",
                        "INTERNAL_ERROR",
                    ],
                },
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}
RATE_LIMIT_SCHEMA = {
    "type": "object",
    "required": ["error", "retry_after", "limit", "remaining", "reset_at"],
    "properties": {
        "error": {"type": "string", "enum": ["rate_limit_exceeded"]},
        "retry_after": {"type": "integer"},
        "limit": {"type": "integer"},
        "remaining": {"type": "integer"},
        "reset_at": {"type": "string", "format": "date-time"},
    },
}
RATE_HEADERS = {
    "X-RateLimit-Limit": "Maximum requests in the active window",
    "X-RateLimit-Remaining": "Requests remaining in the active window",
    "X-RateLimit-Reset": "Unix time (seconds) when the active window resets",
}
COMMON = {
    "400": "Invalid body or query, or a query parameter this operation does not list (VALIDATION_ERROR)",
    "401": "Missing, malformed, unknown, revoked (UNAUTHORIZED) or expired (TOKEN_EXPIRED) token",
    "404": "Unknown resource, or one of another user or workspace (NOT_FOUND)",
    "500": "Unexpected error; the message carries the request id (INTERNAL_ERROR)",
    "503": "Database or broker unavailable (SERVICE_UNAVAILABLE)",
    # Any method may carry a body, and every method's is checked (a GET or DELETE too).
    "413": "Body over the size limit, on any method (PAYLOAD_TOO_LARGE)",
    "415": "Body is not JSON where one is read, or has a Content-Encoding other than identity on any method "
    "(UNSUPPORTED_MEDIA_TYPE)",
}
# Only a POST reads an Idempotency-Key (``idempotency.claim``), so only a write POST can answer this
# 409 whatever its service does; an operation whose service raises CONFLICT declares its own.
KEY_CONFLICT = "Idempotency-Key reused with a different request, or while its first request is still running (CONFLICT)"
# A write without a version (``refuse_without_version``) refuses conditions it cannot evaluate.
UNVERSIONED_400 = "; or If-None-Match was sent (this resource has no version to compare), or an If-Match other than `*`"
# The versioned writes' conditions (If-Match, If-None-Match): ``preconditions.refuse_after_fallback``.
FALLBACK_NOTE = (
    "Any condition is PRECONDITION_FAILED (no `ETag`) when your stored workspace is no longer available and "
    "this request fell back to your personal scope (`X-Synchronex-Scope-Notice`): the version was read in the "
    "workspace. Name the scope in `X-Synchronex-Scope` to be sure where a condition applies."
)
# A write to a resource without a version (every write but the kernel's PUT and a product state's
# POST, which declare their own If-Match; ``write_operations``): ``preconditions.refuse_without_version``.
IF_MATCH_WITHOUT_VERSION = {
    "name": "If-Match",
    "in": "header",
    "required": False,
    "description": "This resource has no version (no ETag), so no entity tag can match it: any value but `*` "
    "is VALIDATION_ERROR naming If-Match, and nothing is done. `*` asks only that the resource exist.",
    "schema": {"type": "string", "enum": ["*"]},
}
REQUEST_ID_PARAMETER = {
    "name": "X-Request-ID",
    "in": "header",
    "required": False,
    "description": "Your id for this request, echoed back when it is 1–128 of `A-Z a-z 0-9 . _ : -`; "
    "any other value is replaced by a generated id (never refused).",
    "schema": {"type": "string"},
}
REQUEST_ID_HEADER = {
    "required": True,
    "description": "The request id (the inbound X-Request-ID when sane, else a generated one); "
    "log lines and INTERNAL_ERROR messages quote it.",
    "schema": {"type": "string", "pattern": SANE_REQUEST_ID.pattern},
}
SCOPE_PARAMETER = {
    "name": SCOPE_HEADER,
    "in": "header",
    "required": False,
    "description": "Act in this workspace (its id) or `personal` for this request only, overriding the "
    "stored scope. A workspace you are not a member of is NOT_FOUND; any other value is a VALIDATION_ERROR.",
    # A plain string, as the server reads it: `personal` or a workspace id; anything else is answered
    # (VALIDATION_ERROR), and fuzzers should send it.
    "schema": {"type": "string"},
}
SCOPE_NOTICE_HEADER = {
    "description": "Sent when your stored workspace is no longer available to you: the request was served "
    "from your personal scope, and the stored scope was reset to it.",
    "schema": {"type": "string"},
}
CHALLENGE_HEADER = {
    "description": 'The authentication challenge (RFC 6750): `Bearer realm="synchronex", '
    'resource_metadata="<PUBLIC_BASE_URL>/.well-known/oauth-protected-resource/api/v1"` (RFC 9728 §5.1), '
    'with `error="invalid_token"` and an `error_description` saying why whenever a Bearer token was sent '
    "(expired, unknown, revoked, malformed, or issued for another resource); an `Authorization` of another "
    "scheme, or an empty one, is answered as no token, without `error`.",
    "schema": {"type": "string"},
}
SCOPE_CHALLENGE_HEADER = {
    "description": "Sent when the token lacks a scope (FORBIDDEN with `details.required_scopes`; RFC 6750 "
    '§3.1): `Bearer realm="synchronex", error="insufficient_scope", scope="<the scopes, space-separated>"`.',
    "schema": {"type": "string"},
}
ACCEPT_ENCODING_HEADER = {
    "description": "`identity` when the body was refused for its Content-Encoding: send it uncompressed.",
    "schema": {"type": "string", "enum": ["identity"]},
}
REPLAYED_HEADER = {
    "description": "`true` when this is the stored answer to an earlier request with the same "
    "Idempotency-Key (replayed for 24 h), not a new effect.",
    "schema": {"type": "string", "enum": ["true"]},
}
IDEMPOTENCY_REPLAYS = "Replays the first response for 24 h when the same key is sent again."
# A POST that is a read (``ApiView.writes``: the kernel export's) keeps nothing under its key.
IDEMPOTENCY_IGNORED = (
    "This POST only reads (it needs no write scope), so the key is checked and then ignored: nothing is "
    "kept, and every request is answered afresh, never with a copy that could show memory deleted since."
)
RETRY_AFTER_UNAVAILABLE_HEADER = {
    "description": "Seconds to wait before retrying while a backing service is unavailable.",
    "schema": {"type": "integer"},
}
# Response headers repeated on most responses are declared once under ``components`` and
# referenced; parameters stay inline, where clients look them up by name.
HEADER_REFS = {
    "RequestId": REQUEST_ID_HEADER,
    "ScopeNotice": SCOPE_NOTICE_HEADER,
    "Challenge": CHALLENGE_HEADER,
    "ScopeChallenge": SCOPE_CHALLENGE_HEADER,
    "Replayed": REPLAYED_HEADER,
    "RetryAfterUnavailable": RETRY_AFTER_UNAVAILABLE_HEADER,
}
# Schemas that allow no field beyond their own: an answer with fewer fields than another, which
# must not also fit the fuller answer's place in a ``oneOf`` (the product state, kernel and active
# scope, that a write-only token gets, beside the whole answer).
CLOSED_SCHEMAS = ("ProductStateWritten", "KernelWritten", "ScopeSet")
# The answers given after authentication and the quota (the rate-limit and scope headers' responses).
AFTER_QUOTA = ("400", "403", "404", "409", "412")
# Answers that carry the rate-limit headers as well, though the scope was not resolved: a body
# refused for its media type, and the quota's own 429 (a per-address 429 carries none).
COUNTED_BEFORE_SCOPE = ("415", "429")


def location_header(description: str) -> OpenApiParameter:
    """The ``Location`` response header of a ``201 Created`` (every create sets it), as declared."""
    return OpenApiParameter("Location", str, OpenApiParameter.HEADER, response=[201], description=description)


def comma_separated(name: str, items: dict, description: str, *, max_items: int | None = None) -> OpenApiParameter:
    """A query parameter read as a comma-separated list (``a,b``) of at least one entry: an array
    in the ``form`` style, not exploded, which is how OpenAPI writes such a list."""
    schema = {"type": "array", "items": items, "minItems": 1}
    if max_items is not None:
        schema["maxItems"] = max_items
    return OpenApiParameter(name, schema, OpenApiParameter.QUERY, description=description, style="form", explode=False)


def _operations(generator, holds) -> set[tuple[str, str]]:
    """The (path, method) of the API views' operations for which ``holds(view, METHOD)`` is true,
    read from the views as the server reads them."""
    found = set()
    for path, _, method, callback in generator.endpoints or ():
        view = getattr(callback, "cls", None)
        if view is not None and holds(view, method.upper()):
            found.add((path, method.lower()))
    return found


def scoped_operations(generator) -> set[tuple[str, str]]:
    """The (path, method) of the operations that act on the active scope (``space_for_request``), as
    their views declare it (``ApiView.acts_on_space``, which Idempotency-Key follows too): every
    memory route, and reading the scope itself, but not workspace management or ``PATCH /scope``,
    which name their workspace explicitly. tests/test_openapi.py holds this to what the server does."""
    return _operations(
        generator, lambda view, method: hasattr(view, "acts_on_space_for") and view.acts_on_space_for(method)
    )


def write_operations(generator) -> set[tuple[str, str]]:
    """The (path, method) of the operations that may change something, as ``ApiView.initial`` reads
    it (``ApiView.writes``: by their scopes, so the kernel export's POST is a read): the ones that
    refuse an If-Match they cannot honour, where reads ignore it."""
    return _operations(generator, lambda view, method: hasattr(view, "writes") and view.writes(method))


def unversioned_write_operations(generator) -> set[tuple[str, str]]:
    """Of ``write_operations``, those whose resource has no version (not in ``ApiView.versioned``):
    the ones that refuse If-None-Match and any If-Match but ``*`` (``refuse_without_version``)."""
    return _operations(
        generator, lambda view, method: hasattr(view, "writes") and view.writes(method) and method not in view.versioned
    )


def space_writing_operations(scoped: set, scopes_of: dict) -> set[tuple[str, str]]:
    """Of the operations acting on the active scope (``scoped_operations``), those that write into it,
    which a workspace's viewer is refused (FORBIDDEN, ``ApiView.writable_space``): those whose scopes
    (``operation_scopes``) are not read scopes, as SPEC §2 reads "viewer: read only", so exporting by
    POST is not one. tests/test_openapi.py holds this to what the server does."""
    return {key for key in scoped if not all(is_read_scope(scope) for scope in scopes_of.get(key, ()))}


def operation_tiers(generator) -> dict[tuple[str, str], str]:
    """The (path, method) of each plan-gated operation → the plan it needs, read as the permission
    layer reads it (``required_tier_for``), as the scopes are. An operation whose service checks a
    plan itself (creating a workspace, adding a member) declares it as ``x-required-tier`` in its
    ``extend_schema(extensions=…)``."""
    found = {}
    for path, _, method, callback in generator.endpoints or ():
        view = getattr(callback, "cls", None)
        tier = required_tier_for(view, method.upper()) if view is not None else None
        if tier:
            found[(path, method.lower())] = tier
    return found


def api_key_only_operations(generator) -> set[tuple[str, str]]:
    """The (path, method) of the operations no OAuth token may call, as the permission layer reads
    it (``api_key_only``): their security offers no ``oauth2`` scope."""
    return _operations(generator, api_key_only)


def forbidden_description(*, writes: bool, tier: str | None, scoped: bool, keys_only: bool = False) -> str:
    """An operation's 403: only the refusals that operation can give."""
    reasons = ["The token lacks a scope the operation needs (FORBIDDEN with `details.required_scopes`)"]
    if keys_only:
        reasons.append(
            "the token is an OAuth token: only an API key with the `write` scope may do this, no OAuth scope "
            "grants it (FORBIDDEN with `details.required_scopes` empty)"
        )
    if writes:
        reasons.append("you are a viewer of the active workspace, who may read it but not write (FORBIDDEN)")
    if tier:
        # A scoped operation uses the active space's owner's plan (SPEC §2); workspace management
        # the caller's, or that of the owner of the workspace it names.
        if scoped:
            plan = "the active space's owner's plan (yours, in the personal scope)"
        else:
            plan = "your plan (for a workspace in the path, its owner's)"
        reasons.append(
            f"{plan} is not the {tier} plan or above (TIER_REQUIRED with `details.required_tier` and "
            "`details.current_tier`)"
        )
    return "; or ".join(reasons)


def oauth2_scheme() -> dict:
    """The OAuth 2.1 code flow (SPEC §10) at the URLs the RFC 8414 metadata names (the issuer's
    origin and the same routes), with the scope catalogue."""
    token_url = public_base_url() + reverse("oauth2_provider:token")
    return {
        "type": "oauth2",
        "description": "OAuth 2.1 access tokens (`sxo_…`), sent as `Authorization: Bearer`: authorization code "
        "with PKCE (`S256` only), refresh tokens (`sxr_…`) rotate. Public clients register at "
        "`/api/oauth/register` (RFC 7591) and revoke at `/api/oauth/revoke` (RFC 7009); metadata at "
        "`/.well-known/oauth-authorization-server`. Each operation lists the scopes that open it: any one "
        "is enough; a token without them is FORBIDDEN with `details.required_scopes`.",
        "flows": {
            "authorizationCode": {
                "authorizationUrl": public_base_url() + reverse("oauth2_provider:authorize"),
                "tokenUrl": token_url,
                "refreshUrl": token_url,
                "scopes": dict(SCOPES),
            }
        },
    }


def operation_scopes(generator) -> dict[tuple[str, str], tuple[str, ...]]:
    """The (path, method) of each operation → the scopes that open it, any one enough, read as the
    permission layer reads them (``required_scope_for`` on the view's ``required_scopes``), so one
    declaration decides both what the server enforces and what the document says."""
    found = {}
    for path, _, method, callback in generator.endpoints or ():
        view = getattr(callback, "cls", None)
        scope = required_scope_for(view, method.upper()) if view is not None else None
        if scope:
            found[(path, method.lower())] = (scope,) if isinstance(scope, str) else tuple(scope)
    return found


def _require_bodies(result: dict) -> None:
    """A JSON body the schema refuses when empty is required: the server reads an absent body as
    ``{}`` and refuses it alike (drf-spectacular marks a body required only for required fields)."""
    components = result.get("components", {})
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody")
            content = (body or {}).get("content", {}).get("application/json")
            if content is None or body.get("required"):
                continue
            if not Draft202012Validator({**content["schema"], "components": components}).is_valid({}):
                body["required"] = True


def _add_parameter(operation: dict, parameter: dict) -> None:
    """Add a shared header parameter, unless the operation declares one of that name itself."""
    params = operation.setdefault("parameters", [])
    if not any(p.get("name") == parameter["name"] and p.get("in") == "header" for p in params):
        params.append(dict(parameter))


def _add_header(response: dict, name: str, component: str) -> None:
    response.setdefault("headers", {}).setdefault(name, {"$ref": f"#/components/headers/{component}"})


def _add_every_operation_headers(operation: dict) -> None:
    """The request id (parameter and header) on every operation, and a 503's ``Retry-After``."""
    _add_parameter(operation, REQUEST_ID_PARAMETER)
    for status, response in operation.get("responses", {}).items():
        _add_header(response, "X-Request-ID", "RequestId")
        if status == "503":
            _add_header(response, "Retry-After", "RetryAfterUnavailable")


def add_common_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    for name in CLOSED_SCHEMAS:
        if name in schemas:
            schemas[name]["additionalProperties"] = False
    schemas["RateLimitExceeded"] = RATE_LIMIT_SCHEMA
    result["components"].setdefault("headers", {}).update(HEADER_REFS)
    result["components"].setdefault("securitySchemes", {})["oauth2"] = oauth2_scheme()
    _require_bodies(result)
    scoped_ones = scoped_operations(generator)
    scopes_of = operation_scopes(generator)
    writing = space_writing_operations(scoped_ones, scopes_of)
    tiers = operation_tiers(generator)
    keys_only = api_key_only_operations(generator)
    writes = write_operations(generator)
    unversioned = unversioned_write_operations(generator)
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/") or path.startswith("/api/v1/openapi") or path == "/api/v1/docs":
            for operation in operations.values():
                _add_every_operation_headers(operation)
            continue
        for method, operation in operations.items():
            # API keys: bearer (a read key opens every read); OAuth tokens: any one of the scopes listed.
            scopes = () if (path, method) in keys_only else scopes_of.get((path, method), ())
            operation["security"] = [{"bearer": []}, *({"oauth2": [scope]} for scope in scopes)]
            responses = operation.setdefault("responses", {})
            scoped = (path, method) in scoped_ones
            tier = tiers.get((path, method)) or operation.get("x-required-tier")
            if tier:
                operation["x-required-tier"] = tier
            forbidden = forbidden_description(
                writes=(path, method) in writing, tier=tier, scoped=scoped, keys_only=(path, method) in keys_only
            )
            if "403" in responses:  # refusals the operation's service decides (a role), declared with it
                responses["403"]["description"] = f"{forbidden}; or {responses['403']['description']}"
            extra = {**COMMON, "403": forbidden}
            if (path, method) in unversioned:
                extra["400"] += UNVERSIONED_400
            if method == "post" and (path, method) in writes:
                if "409" in responses:  # the service's own conflicts, declared with it
                    responses["409"]["description"] = f"{responses['409']['description']} Or {KEY_CONFLICT}"
                extra["409"] = KEY_CONFLICT
            if (path, method) in writes:
                _add_parameter(operation, IF_MATCH_WITHOUT_VERSION)
            for status, description in extra.items():
                responses.setdefault(
                    status, {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}
                )
            responses.setdefault(
                "429",
                {
                    "description": (
                        "Account quota exceeded (the RateLimitExceeded body), or too many failed "
                        "authentications from this address (RATE_LIMITED)"
                    ),
                    "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}},
                    "content": {
                        "application/json": {
                            "schema": {"oneOf": [{"$ref": "#/components/schemas/RateLimitExceeded"}, ERROR_REF]}
                        }
                    },
                },
            )
            for status, response in responses.items():
                after_quota = status.startswith("2") or status in AFTER_QUOTA
                if after_quota or status in COUNTED_BEFORE_SCOPE:
                    headers = response.setdefault("headers", {})
                    for name, description in RATE_HEADERS.items():
                        headers.setdefault(name, {"schema": {"type": "integer"}, "description": description})
                if after_quota and scoped:
                    _add_header(response, NOTICE_HEADER, "ScopeNotice")
                # A body refused for its media type is kept under its Idempotency-Key, and replayed;
                # a read keeps nothing (``idempotency.claim``).
                if (after_quota or status == "415") and method == "post" and (path, method) in writes:
                    _add_header(response, "Idempotent-Replayed", "Replayed")
                if status == "401":
                    _add_header(response, "WWW-Authenticate", "Challenge")
                if status == "403":
                    _add_header(response, "WWW-Authenticate", "ScopeChallenge")
                if status == "415":
                    response.setdefault("headers", {}).setdefault("Accept-Encoding", ACCEPT_ENCODING_HEADER)
            if scoped:
                _add_parameter(operation, SCOPE_PARAMETER)
            if method == "post":
                params = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in params):
                    params.append(
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": f"1–{KEY_MAX} visible ASCII characters but the comma, sent once (a "
                            "header sent twice arrives joined by a comma: 400). "
                            + (IDEMPOTENCY_REPLAYS if (path, method) in writes else IDEMPOTENCY_IGNORED),
                            "schema": {
                                "type": "string",
                                "minLength": 1,
                                "maxLength": KEY_MAX,
                                "pattern": IDEMPOTENCY_KEY.pattern,
                            },
                        }
                    )
            _add_every_operation_headers(operation)
    return result
