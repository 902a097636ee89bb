"""Request-wide plumbing: request ids, body limits, and JSON (never HTML) errors on API paths."""

from __future__ import annotations

import io
import json
import logging
import time

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from gunicorn.http.errors import ParseException

from synchronex.api import errors
from synchronex.api.exceptions import BODY_UNREADABLE, internal_error, to_service_error
from synchronex.api.request_id import accept_or_generate, set_request_id

logger = logging.getLogger("synchronex.api")
access_logger = logging.getLogger("synchronex.access")

# Django's own HTML error pages must never answer under these prefixes (SPEC §1).
JSON_ERROR_PREFIXES = ("/api/", "/oauth/", "/.well-known/", "/openapi.yaml", "/healthz", "/mcp")
MCP_PATH = "/mcp"
# Every response under the REST API carries this unless its view set a Cache-Control of its own.
API_PREFIX = "/api/v1/"
API_CACHE_CONTROL = "private, no-store"
# The consent page (``apps.oauth.views.ConsentView``, ``never_cache``). Its error envelopes are made
# where that decorator cannot mark them: raised through the view (``process_exception``), refused
# before it (the CSRF check, the body checks here) or put in place of its answer (a 405). They are
# one account's request too, so they are marked here, all alike, as the page is.
CONSENT_PATH = "/oauth/authorize"
# The bodies Django itself decodes with the Content-Type's charset (``ApiErrorMiddleware``).
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# What reading the body raises when the client broke it: a reset or a timeout (OSError, gunicorn's
# NoMoreData among them), or gunicorn's refusal of bad chunked framing (its ParseException).
UNREADABLE = (OSError, ParseException)
BODY_CUT_SHORT = "The request body ended before its Content-Length."
TRANSFER_CODING_REFUSED = (
    "The request body has a Transfer-Encoding ({}); send it uncompressed: chunked is the only one read."
)

_CODE_FOR_STATUS = {
    400: errors.ValidationFailed,
    401: errors.Unauthorized,
    403: errors.Forbidden,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    409: errors.Conflict,
    412: errors.PreconditionFailed,
    413: errors.PayloadTooLarge,
    415: errors.UnsupportedMediaType,
    429: errors.RateLimited,
    503: errors.ServiceUnavailable,
}


def wants_json_errors(path: str) -> bool:
    return collapsed(path).startswith(JSON_ERROR_PREFIXES)


def collapsed(path: str) -> str:
    """``path`` with its leading slashes made one: ``https://host/`` joined with ``/api/v1/…`` asks
    for ``//api/v1/…``, which no route serves, and its 404 must still be the envelope (SPEC §1)."""
    return "/" + path.lstrip("/")


IMPORT_PATH = "/api/v1/memory/import-mif"


def body_limit_for(path: str) -> int:
    """The request body limit in bytes for a path (SPEC §1: 1 MiB, 25 MiB for MIF import). The
    import route only: a path that merely ends like it (``/ingest/{project_id}`` takes slashes in
    the name) keeps the 1 MiB limit."""
    if path.rstrip("/") == IMPORT_PATH:
        return settings.MAX_IMPORT_BODY_BYTES
    return settings.MAX_BODY_BYTES


def json_error(error: errors.ServiceError) -> HttpResponse:
    body = errors.envelope(error.code, error.message, error.details)
    response = HttpResponse(json.dumps(body), status=error.status, content_type="application/json")
    for name, value in error.headers.items():
        response[name] = value
    return response


def early_refusal(request, error: errors.ServiceError) -> HttpResponse:
    """A refusal made here, before any view: the envelope, or on ``/mcp`` a JSON-RPC error (its
    clients read only that), as the view's own refusals are."""
    if request.path != MCP_PATH:
        return json_error(error)
    from apps.mcp.protocol import refusal_message  # here: apps.mcp imports this package

    response = json_error(error)
    response.content = json.dumps(refusal_message(error))
    return response


def unavailable_page(request, exception: Exception) -> HttpResponse | None:
    """On the browser pages and the admin, a backing service that is down (the cache that counts
    sign-ins, the database) answers a 503 page with ``Retry-After``, as the API answers
    SERVICE_UNAVAILABLE: a request that cannot be counted is not served, and it is no bug to log
    with a traceback (Django's 500). Rendered without the request: the page must not need the
    session or the signed-in user, which may be what is down. Anything else is left to Django."""
    error = to_service_error(exception)
    if error is None or error.status != 503:
        return None
    logger.error("%s on %s: %s", error.code, request.path, exception)
    response = HttpResponse(render_to_string("unavailable.html"), status=503)
    for name, value in error.headers.items():
        response[name] = value
    return response


def refused_transfer_coding(request) -> str | None:
    """The ``Transfer-Encoding`` when it lists a coding other than ``chunked``, else None. gunicorn
    accepts ``gzip``, ``deflate`` and ``compress`` before ``chunked``, removes only the chunked
    framing and hands on the still-compressed body: read as if plain, a gzip body was "not valid
    UTF-8" and a plain one so labelled was stored. Refused as a ``Content-Encoding`` is (415)."""
    value = request.META.get("HTTP_TRANSFER_ENCODING", "")
    if any(part.strip().lower() not in ("", "chunked") for part in value.split(",")):
        return value
    return None


def _unreadable(request, exc: Exception) -> HttpResponse:
    """A body the client reset, or sent chunked and broken: its mistake, one warning and no traceback
    (anyone may send one), never the unexpected error Django would log and render as HTML."""
    logger.warning("Unreadable request body on %s (%s)", request.path, type(exc).__name__)
    return early_refusal(request, errors.ValidationFailed(BODY_UNREADABLE))


def _read_declared(request, length: int, read) -> tuple[bytes, str | None]:
    """The body ``read()`` gives, or why it is refused (``BODY_UNREADABLE``, ``BODY_CUT_SHORT``: a
    body shorter than its Content-Length), with one warning: neither gunicorn nor Django checks that a
    body arrived in full, and one cut short (the client stopped sending: its timeout, a killed
    process) would run as if complete."""
    try:
        body = read()
    except UNREADABLE as exc:
        logger.warning("Unreadable request body on %s (%s)", request.path, type(exc).__name__)
        return b"", BODY_UNREADABLE
    if len(body) < length:
        logger.warning("Request body on %s ended at %d of its %d bytes", request.path, len(body), length)
        return body, BODY_CUT_SHORT
    return body, None


CSRF_FAILED_MESSAGE = "CSRF verification failed: the form is stale or was not sent from this site; reload the page."


def csrf_failure(request, reason: str = "") -> HttpResponse:
    """``CSRF_FAILURE_VIEW``: on the JSON prefixes (the consent page posts to /oauth/authorize)
    a FORBIDDEN that says what failed, where the envelope would otherwise carry the generic 403
    sentence about tokens; on the other browser pages, Django's own page, as before. The reason
    is not shown, as Django shows it only with DEBUG."""
    if wants_json_errors(request.path):
        return json_error(errors.Forbidden(CSRF_FAILED_MESSAGE))
    from django.views.csrf import csrf_failure as django_csrf_failure

    return django_csrf_failure(request, reason=reason)


class RequestIdMiddleware:
    """Echo a sane inbound ``X-Request-ID`` or generate one; every response carries it.

    Every request gets one ``synchronex.access`` line, the browser pages and the admin as well as
    the API: gunicorn logs none of its own, and a sign-in (failed, throttled) or a key made from a
    page must leave a trace.

    The id is not cleared on the way out: Django logs a response's error line after every
    middleware has returned. ``request_id.forget_request_id`` clears it once the response closes."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        rid = accept_or_generate(request.headers.get("X-Request-ID"))
        request.request_id = rid
        set_request_id(rid)
        started = time.perf_counter()
        response = self.get_response(request)
        # Path only, never the query string: it could carry something private.
        access_logger.info(
            "%s %s %s %.1fms",
            request.method,
            request.path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
        response["X-Request-ID"] = rid
        return response


class ApiErrorMiddleware:
    """On API paths: read the query as UTF-8 (but a form's), read bodies whole before any view,
    refusing one that is oversized, cut short or unreadable, turn any non-JSON error into the
    envelope (JSON-RPC on ``/mcp``), and mark REST API responses and the consent page's errors not
    to be stored (``API_CACHE_CONTROL``, ``CONSENT_PATH``). On the other paths, a backing service
    that is down is a 503 page (``unavailable_page``)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not wants_json_errors(request.path):
            return self._check_form_body(request) or self.get_response(request)
        # Django decodes the query string with the Content-Type's charset: ``charset=latin-1`` read
        # ?product=Caf%C3%A9 as "CafÃ©", and utf-16 turned ``dry_run=true`` into another name. A
        # URL's query is percent-encoded UTF-8 (RFC 3986 §2.5), and JSON is UTF-8 (RFC 8259 §8.1),
        # whatever it says. A form read as one keeps its charset: Django refuses a urlencoded one in
        # any other (the OAuth endpoints answer invalid_request); the REST API reads no form (JSON
        # only) and a request without a body has none. Not the ``encoding`` setter: it reads the
        # query at once, which must wait for the view (a request without a token is refused unread,
        # too many fields in the API's format).
        if (
            request.content_type not in FORM_TYPES
            or collapsed(request.path).startswith(API_PREFIX)
            or not (request.META.get("CONTENT_LENGTH") or request.META.get("HTTP_TRANSFER_ENCODING"))
        ):
            request._encoding = "utf-8"
        response = self._respond(request)
        if collapsed(request.path).startswith(API_PREFIX):
            # Every API answer is one account's data (or about its request): a shared cache never
            # stores it (it carries Authorization), and neither may a browser's or client's own.
            response.setdefault("Cache-Control", API_CACHE_CONTROL)
        elif collapsed(request.path) == CONSENT_PATH and response.status_code >= 400:
            add_never_cache_headers(response)
        return response

    def _respond(self, request):
        early = self._check_body_size(request)
        if early is not None:
            return early
        response = self.get_response(request)
        if response.status_code >= 400 and not response.get("Content-Type", "").startswith("application/json"):
            error_cls = _CODE_FOR_STATUS.get(response.status_code)
            error = error_cls() if error_cls else internal_error()
            if response.status_code == 405 and response.get("Allow"):
                error.headers["Allow"] = response["Allow"]
            replacement = early_refusal(request, error)
            replacement.status_code = response.status_code if error_cls else 500
            return replacement
        return response

    def process_exception(self, request, exception):
        if not wants_json_errors(request.path):
            return unavailable_page(request, exception)
        error = to_service_error(exception)
        if error is None:
            logger.exception("Unhandled error on %s", request.path)
            error = internal_error()
        elif error.status >= 500:
            logger.error("%s on %s: %s", error.code, request.path, exception)
        return early_refusal(request, error)

    @staticmethod
    def _check_body_size(request):
        coding = refused_transfer_coding(request)
        if coding is not None:
            refusal = errors.UnsupportedMediaType(
                TRANSFER_CODING_REFUSED.format(coding[:40]), headers={"Accept-Encoding": "identity"}
            )
            return early_refusal(request, refusal)
        raw = request.META.get("CONTENT_LENGTH") or ""
        if not raw:
            if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
                return ApiErrorMiddleware._read_chunked(request)
            return None
        from synchronex.api.parsers import ascii_integer  # here: parsers imports this module

        length = ascii_integer(raw)  # int() alone also read "1_0", "+10" and "-1"
        if length is None or length < 0:
            return early_refusal(request, errors.ValidationFailed("The Content-Length header is not a number."))
        limit = body_limit_for(request.path)
        if length > limit:
            return early_refusal(
                request, errors.PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
            )
        if length:
            # Read whole here, before any view, so that one cut short runs nothing and claims no
            # Idempotency-Key (``_read_declared``). Past Django's limit (small, for forms) too, so
            # request.body (an idempotent import's fingerprint) takes it.
            body, refused = _read_declared(request, length, request._stream.read)
            if refused:
                return early_refusal(request, errors.ValidationFailed(refused))
            ApiErrorMiddleware._hold(request, body)
        return None

    @staticmethod
    def _check_form_body(request) -> HttpResponse | None:
        """The browser pages and the admin read bodies too (forms): one cut short of its
        Content-Length was parsed as a form without its later fields, and a change form saved them
        blank. Such a body is refused with a plain 400 before any view reads it, as on API paths.
        Bodies over Django's form limit are left to Django, which refuses those itself; a body with
        a transfer coding but chunked, or a content coding (a form declared ``br`` was read as if
        plain), is refused before it is read, as on API paths."""
        coding = refused_transfer_coding(request)
        if coding is not None:
            refused = HttpResponse(TRANSFER_CODING_REFUSED.format(coding[:40]), status=415, content_type="text/plain")
            refused["Accept-Encoding"] = "identity"
            return refused
        from synchronex.api.parsers import refuse_encoded_body  # here: parsers imports this module

        try:
            refuse_encoded_body(request)
        except errors.UnsupportedMediaType as encoded:
            refused = HttpResponse(encoded.message, status=415, content_type="text/plain")
            refused["Accept-Encoding"] = "identity"
            return refused
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None  # Django reads a malformed length as no body
        if length <= 0 or length > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return None
        # request.body keeps what it read: the form parser reads it from there.
        _, refused = _read_declared(request, length, lambda: request.body)
        return HttpResponseBadRequest(refused, content_type="text/plain") if refused else None

    @staticmethod
    def _hold(request, body: bytes) -> None:
        """Hand on a body read here: ``request.body`` returns it, and readers of the stream read it."""
        request.META["CONTENT_LENGTH"] = str(len(body))
        request._body = body
        request._stream = io.BytesIO(body)

    @staticmethod
    def _read_chunked(request):
        """A body sent with ``Transfer-Encoding: chunked`` has no Content-Length, which Django reads
        as an empty body: the write would answer 2xx having done nothing. Where the server has
        decoded the chunks (gunicorn marks it with ``wsgi.input_terminated``), the body is read here,
        up to its limit, and handed on with its length; a server that cannot decode them gets the
        request refused, never an empty body in its place."""
        if not request.environ.get("wsgi.input_terminated"):
            return early_refusal(
                request,
                errors.ValidationFailed(
                    "This server cannot read a chunked body: send it with a Content-Length header."
                ),
            )
        limit = body_limit_for(request.path)
        stream, parts, size = request.environ["wsgi.input"], [], 0
        try:
            while size <= limit:
                part = stream.read(min(64 * 1024, limit + 1 - size))
                if not part:
                    break
                parts.append(part)
                size += len(part)
        except UNREADABLE as exc:
            return _unreadable(request, exc)
        if size > limit:
            return early_refusal(
                request, errors.PayloadTooLarge(f"The request body is over the limit of {limit} bytes.")
            )
        ApiErrorMiddleware._hold(request, b"".join(parts))
        return None
