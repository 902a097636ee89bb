"""The one error path: every exception raised under the API becomes the SPEC §1 envelope."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.exceptions import (
    BadRequest,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import Http404, UnreadablePostError
from django.http.multipartparser import MultiPartParserError
from django_redis.exceptions import ConnectionInterrupted as CacheConnectionInterrupted
from kombu.exceptions import OperationalError as BrokerOperationalError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rest_framework import exceptions as drf
from rest_framework.response import Response

from synchronex.api import errors
from synchronex.api.authentication import bearer_challenge
from synchronex.api.ratelimit import QuotaExceeded
from synchronex.api.request_id import current_request_id
from synchronex.db.deadlocks import is_deadlock
from synchronex.db.references import names_missing_space

logger = logging.getLogger("synchronex.api")

WWW_AUTHENTICATE = 'Bearer realm="synchronex"'
# A body the client broke off (a reset, bad chunked framing): the middleware and the handler say so alike.
BODY_UNREADABLE = "The request body could not be read."
SCOPE_DELETED = "This scope was deleted while the request ran; nothing the request wrote was kept."


def _field_errors(detail) -> dict:
    """Flatten DRF's nested error detail into ``{"field.path": [messages]}``."""
    fields: dict[str, list[str]] = {}

    def walk(node, path: str):
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list) and node and all(not isinstance(v, (dict, list)) for v in node):
            fields.setdefault(path or "non_field_errors", []).extend(str(v) for v in node)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                if value:
                    walk(value, f"{path}[{index}]")
        else:
            fields.setdefault(path or "non_field_errors", []).append(str(node))

    walk(detail, "")
    return fields


def to_service_error(exc: Exception) -> errors.ServiceError | None:
    """Translate framework and database exceptions into domain errors; None if unexpected."""
    if isinstance(exc, errors.ServiceError):
        return exc
    if isinstance(exc, errors.KnownInternalError):
        return internal_error()  # the callers log a 5xx with ``exc``'s message: its cause
    if isinstance(exc, drf.ValidationError):
        return errors.ValidationFailed("Some fields are not valid.", details={"fields": _field_errors(exc.detail)})
    if isinstance(exc, drf.ParseError):
        return errors.ValidationFailed(f"Malformed request body: {exc.detail}")
    if isinstance(exc, drf.UnsupportedMediaType):
        return errors.UnsupportedMediaType()
    if isinstance(exc, drf.NotAuthenticated):
        return errors.MissingCredentials("Authentication required: send Authorization: Bearer <token>.")
    if isinstance(exc, drf.AuthenticationFailed):
        return errors.Unauthorized(str(exc.detail))
    if isinstance(exc, (drf.PermissionDenied, DjangoPermissionDenied)):
        return errors.Forbidden()
    if isinstance(exc, (drf.NotFound, Http404)):
        return errors.NotFound()
    if isinstance(exc, drf.MethodNotAllowed):
        return errors.MethodNotAllowed(str(exc.detail))
    if isinstance(exc, drf.NotAcceptable):
        return errors.ValidationFailed("Cannot produce the requested representation (Accept header).")
    unreadable = _unreadable_request(exc)
    if unreadable is not None:
        return unreadable
    if is_deadlock(exc):
        # What ``retry_deadlocks`` could not settle (or a write it does not wrap): the database is up,
        # and nothing of the request was stored.
        return errors.ServiceUnavailable(
            "The request collided with concurrent writes to the same data and was not applied; retry it."
        )
    if names_missing_space(exc):
        # A row written into a space an admin deleted meanwhile, refused at COMMIT (Django's keys
        # are checked then): the scope is gone, which is NOT_FOUND, not an unexpected error.
        return errors.NotFound(SCOPE_DELETED)
    if is_tsquery_limit(exc):
        return errors.ValidationFailed("The search query is too complex to search; shorten it.")
    if isinstance(exc, (OperationalError, InterfaceError)):
        return errors.ServiceUnavailable("The database is unavailable; try again shortly.")
    if isinstance(exc, DatabaseError) and "could not connect" in str(exc).lower():
        return errors.ServiceUnavailable("The database is unavailable; try again shortly.")
    if isinstance(exc, (CacheConnectionInterrupted, RedisConnectionError, RedisTimeoutError)):
        # The cache holds the request quotas: a request that cannot be counted is not served.
        return errors.ServiceUnavailable("The cache is unavailable; try again shortly.")
    if isinstance(exc, BrokerOperationalError):
        return errors.ServiceUnavailable("The task broker is unavailable; try again shortly.")
    if isinstance(exc, ConnectionError):
        return errors.ServiceUnavailable("A backing service is unavailable; try again shortly.")
    return None


def is_tsquery_limit(exc: Exception) -> bool:
    """Whether ``exc`` is PostgreSQL's tsquery parser refusing a query's shape (an internal error
    raised in ``tsquery.c``: "tsquery stack too small"). Search queries are rewritten so that none
    reaches it (apps/memory/search_query.py); should one still, it is the request's query, not an
    unexpected error. A syntax error there (a tsquery the code built, cast with ``::tsquery``)
    stays unexpected."""
    diag = getattr(getattr(exc, "__cause__", None), "diag", None)
    return (
        isinstance(exc, DatabaseError)
        and getattr(exc.__cause__, "sqlstate", None) == "XX000"
        and diag is not None
        and diag.source_file == "tsquery.c"
    )


def _unreadable_request(exc: Exception) -> errors.ServiceError | None:
    """Django's refusals to read a query string or form body (raised when a view first reads
    ``request.GET`` or ``request.POST``), and a body the client broke off (``UnreadablePostError``,
    which Django itself would answer 500): the client's mistake, answered 400 (413 for the body
    size), never as an unexpected error."""
    if isinstance(exc, TooManyFieldsSent):
        limit = settings.DATA_UPLOAD_MAX_NUMBER_FIELDS
        return errors.ValidationFailed(f"The request has more than {limit} query or form fields.")
    if isinstance(exc, TooManyFilesSent):
        return errors.ValidationFailed(f"The request has more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files.")
    if isinstance(exc, RequestDataTooBig):
        return errors.PayloadTooLarge()
    if isinstance(exc, UnreadablePostError):
        return errors.ValidationFailed(BODY_UNREADABLE)  # the client reset it
    if isinstance(exc, MultiPartParserError):
        return errors.ValidationFailed(f"Malformed multipart body: {exc}")
    if isinstance(exc, BadRequest):
        return errors.ValidationFailed(str(exc) or "The request could not be read.")
    if isinstance(exc, SuspiciousOperation):
        return errors.ValidationFailed("The request was refused as malformed.")
    return None


def internal_error() -> errors.ServiceError:
    rid = current_request_id()
    return errors.ServiceError(f"An unexpected error occurred. Quote request id {rid} when reporting it.")


def error_response(error: errors.ServiceError) -> Response:
    headers = dict(error.headers)
    if error.status == 401:
        headers.setdefault("WWW-Authenticate", bearer_challenge(error))
    elif isinstance(error, errors.InsufficientScope):
        # RFC 6750 §3.1: the client learns which scope to ask for when it authorizes again.
        scopes = " ".join(error.scopes)
        headers.setdefault("WWW-Authenticate", f'{WWW_AUTHENTICATE}, error="insufficient_scope", scope="{scopes}"')
    response = Response(errors.envelope(error.code, error.message, error.details), status=error.status, headers=headers)
    response.refuses_rights = error.refuses_rights
    return response


def exception_handler(exc: Exception, context: dict) -> Response:
    if isinstance(exc, QuotaExceeded):
        return Response(exc.body(), status=429, headers=exc.headers())
    error = to_service_error(exc)
    if error is None:
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        error = internal_error()
    elif error.status >= 500:
        logger.error("%s: %s", error.code, exc)
    return error_response(error)
