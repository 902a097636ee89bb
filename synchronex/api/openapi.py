"""OpenAPI post-processing: the error responses and rate-limit headers every operation shares."""

from __future__ import annotations

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
    "400": "Invalid body or query (VALIDATION_ERROR)",
    "401": "Missing, malformed, unknown, revoked (UNAUTHORIZED) or expired (TOKEN_EXPIRED) token",
    "403": "Token lacks a scope (FORBIDDEN) or plan too low (TIER_REQUIRED)",
    "404": "Unknown resource, or one of another user or workspace (NOT_FOUND)",
    "500": "Unexpected error; the message carries the request id (INTERNAL_ERROR)",
    "503": "Database or broker unavailable (SERVICE_UNAVAILABLE)",
}
WRITE_ONLY = {
    "409": "Duplicate, or Idempotency-Key reused with a different body (CONFLICT)",
    "413": "Body over the size limit (PAYLOAD_TOO_LARGE)",
    "415": "Body is not JSON (UNSUPPORTED_MEDIA_TYPE)",
}


def add_common_responses(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    schemas["RateLimitExceeded"] = RATE_LIMIT_SCHEMA
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/") or path.startswith("/api/v1/openapi") or path == "/api/v1/docs":
            continue
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            extra = dict(COMMON)
            if method in ("post", "put", "patch"):
                extra.update(WRITE_ONLY)
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
                if status.startswith("2") or status in ("403", "404", "400", "409", "412"):
                    headers = response.setdefault("headers", {})
                    for name, description in RATE_HEADERS.items():
                        headers.setdefault(name, {"schema": {"type": "integer"}, "description": description})
            if method == "post":
                params = operation.setdefault("parameters", [])
                if not any(p.get("name") == "Idempotency-Key" for p in params):
                    params.append(
                        {
                            "name": "Idempotency-Key",
                            "in": "header",
                            "required": False,
                            "description": "Replays the first response for 24 h when the same key is sent again.",
                            "schema": {"type": "string", "maxLength": 255},
                        }
                    )
    return result
