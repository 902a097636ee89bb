"""Domain errors. Services raise these; ``exceptions.exception_handler`` renders the envelope.

Each error carries the contract's code (SPEC §1), its HTTP status, a human sentence and
optional details. Nothing else in the project builds an error response by hand.
"""

from __future__ import annotations


class ServiceError(Exception):
    """Base of every error the API answers with; subclasses fix code and status."""

    code = "INTERNAL_ERROR"
    status = 500
    default_message = "Something went wrong."
    # True for a refusal of the caller's rights that is not a 401/403 (``NoSuchWorkspace``).
    refuses_rights = False

    def __init__(self, message: str | None = None, *, details: dict | None = None, headers: dict | None = None):
        self.message = message or self.default_message
        self.details = details
        self.headers = dict(headers or {})
        super().__init__(self.message)


class ValidationFailed(ServiceError):
    code, status, default_message = "VALIDATION_ERROR", 400, "The request is not valid."

    @classmethod
    def for_fields(cls, fields: dict[str, list[str] | str], message: str | None = None) -> ValidationFailed:
        normalised = {name: msgs if isinstance(msgs, list) else [msgs] for name, msgs in fields.items()}
        return cls(message or "Some fields are not valid.", details={"fields": normalised})

    @classmethod
    def for_query(cls, fields: dict[str, list[str] | str]) -> ValidationFailed:
        """Problems of the query string, in the words every route answers them with."""
        return cls.for_fields(fields, "Some query parameters are not valid.")


class Unauthorized(ServiceError):
    code, status, default_message = "UNAUTHORIZED", 401, "Missing, malformed, unknown or revoked bearer token."


class MissingCredentials(Unauthorized):
    """An UNAUTHORIZED for a request that sent no Bearer token (no ``Authorization`` header, or one of
    another scheme, or empty): its challenge carries no error code (RFC 6750 §3.1), where a token that
    was sent and refused is ``invalid_token``."""


class TokenExpired(ServiceError):
    code, status, default_message = "TOKEN_EXPIRED", 401, "The token has expired; reconnect to get a new one."

    def __init__(self, message: str | None = None, **kwargs):
        kwargs.setdefault("details", {"reconnect": True})
        super().__init__(message, **kwargs)


class Forbidden(ServiceError):
    code, status, default_message = "FORBIDDEN", 403, "This token is not allowed to do that."


class InsufficientScope(Forbidden):
    """A FORBIDDEN for a scope the bearer token (API key or OAuth) lacks: ``details.required_scopes``,
    and the RFC 6750 §3.1 ``insufficient_scope`` challenge (``exceptions.error_response``)."""

    def __init__(self, message: str, *, scopes: list[str]):
        self.scopes = list(scopes)
        super().__init__(message, details={"required_scopes": self.scopes})


class TierRequired(ServiceError):
    code, status, default_message = "TIER_REQUIRED", 403, "This feature needs a higher plan."


class NotFound(ServiceError):
    code, status, default_message = "NOT_FOUND", 404, "Not found."


class NoSuchWorkspace(NotFound):
    """NOT_FOUND for a workspace the caller is not in, or that does not exist (SPEC §1: never 403,
    the two look the same). Like a 403 it answers the caller's rights at that moment, so an
    Idempotency-Key does not keep it (``refuses_rights``, read by ``idempotency.settle``): a user
    added to the workspace since retries with the same key for real."""

    default_message = "No such workspace."
    refuses_rights = True


class MethodNotAllowed(ServiceError):
    code, status, default_message = "METHOD_NOT_ALLOWED", 405, "This method is not allowed here."


class Conflict(ServiceError):
    code, status, default_message = "CONFLICT", 409, "This conflicts with existing data."


class PreconditionFailed(ServiceError):
    code, status, default_message = "PRECONDITION_FAILED", 412, "The resource changed since you read it (If-Match)."


class PayloadTooLarge(ServiceError):
    code, status, default_message = "PAYLOAD_TOO_LARGE", 413, "The request body is too large."


class UnsupportedMediaType(ServiceError):
    code, status, default_message = (
        "UNSUPPORTED_MEDIA_TYPE",
        415,
        "The body must be JSON (Content-Type: application/json).",
    )


class RateLimited(ServiceError):
    code, status, default_message = "RATE_LIMITED", 429, "Too many attempts; wait and try again."


class ServiceUnavailable(ServiceError):
    """Answered with ``Retry-After`` (RFC 9110 §10.2.3): how long a client should wait before it
    retries. An outage's length is unknown here, so this is a pause for the client, not a promise;
    it keeps retrying clients from hammering a database or broker that is coming back."""

    code, status, default_message = "SERVICE_UNAVAILABLE", 503, "A backing service is unavailable; try again shortly."
    retry_after_seconds = 5

    def __init__(self, message: str | None = None, **kwargs):
        super().__init__(message, **kwargs)
        self.headers.setdefault("Retry-After", str(self.retry_after_seconds))


class KnownInternalError(Exception):
    """A failure of the deployment, not of the request, whose message says what to fix (a stored
    secret that no configured key decrypts). Answered as any unexpected error, ``INTERNAL_ERROR``
    quoting the request id, never with its message; logged as its message, in one line."""


def envelope(code: str, message: str, details: dict | None = None) -> dict:
    """The error body of SPEC §1."""
    body: dict = {"code": code, "message": message}
    if details:
        body["details"] = details
    return {"error": body}
