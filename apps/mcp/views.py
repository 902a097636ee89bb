"""``/mcp``: the MCP Streamable HTTP endpoint (JSON-RPC 2.0 over POST, stateless JSON responses).

Order of checks on a POST: the ``Origin`` header (DNS-rebinding protection: only the public
origin and loopback origins), the bearer token (401 with a ``resource_metadata`` challenge), the
account quota (every authenticated POST counts once, and each further request of a batch once
more when the revision has batches, so that the batch runs), the content type and ``Accept``,
the ``Content-Encoding`` (none but ``identity``: 415, as on the REST API), the JSON itself, the
``MCP-Protocol-Version`` header, then each message. A refusal before the body is parsed (a 401,
the failed-token throttle's 429, the quota's 429, a 503 when the database or the cache that counts
requests is down) is JSON-RPC too and still answers the request's id, read from the body only
once it is refused (``_answer_id``). A batch is bounded in length,
answer bytes and time (``batch``). A request is answered with
``application/json`` (never a stream: nothing here runs long enough to need one); a POST of
notifications or responses only is answered 202 with no body. GET (the optional server-to-client
stream) and DELETE (session termination; there are no sessions) answer 405. The middleware
refuses a body over its limit, or one it cannot read, before any of these, with a JSON-RPC error
too (``synchronex.api.middleware``).
"""

from __future__ import annotations

import json
import logging
from urllib.parse import urlsplit

from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from rest_framework.utils.encoders import JSONEncoder

from apps.oauth.resources import public_base_url
from synchronex.api import errors, parsers, ratelimit
from synchronex.api.exceptions import to_service_error
from synchronex.api.middleware import json_error

from .auth import mcp_authenticate, unauthorized_challenge
from .batch import BATCH_MAX_MESSAGES, BatchBudget
from .dispatch import dispatch
from .protocol import (
    BATCH_VERSIONS,
    HEADERLESS_VERSION,
    INVALID_PARAMS,
    INVALID_REQUEST,
    QUOTA_EXCEEDED,
    SUPPORTED_VERSIONS,
    Message,
    RpcError,
    classify,
    error_message,
    parse_body,
    refusal,
    result_message,
    unsupported_version,
    valid_id,
)
from .tools.registry import ToolContext

VERSION_HEADER = "MCP-Protocol-Version"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
NOTICE_HEADER = "X-Synchronex-Scope-Notice"

logger = logging.getLogger("synchronex.api")


def _encoded(body) -> bytes:
    return json.dumps(body, cls=JSONEncoder, ensure_ascii=False).encode()


def _json(body, status: int = 200, headers: dict | None = None) -> HttpResponse:
    """``body`` as JSON; bytes are sent as they are (a batch's answers, encoded as they were counted)."""
    content = body if isinstance(body, bytes) else _encoded(body)
    response = HttpResponse(content, status=status, content_type="application/json")
    response["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def _accepted() -> HttpResponse:
    """202 for notifications and client responses: no body, so no Content-Type (Django's default
    would label the nothing text/html), and never cached, as every other answer of /mcp."""
    response = HttpResponse(status=202)
    del response["Content-Type"]
    response["Cache-Control"] = "no-store"
    return response


def _rpc_error(error: RpcError, request_id=None) -> HttpResponse:
    answer = request_id if request_id is not None else error.answer_id
    return _json(error_message(answer, error), status=error.status, headers=error.headers)


def _origin_allowed(origin: str) -> bool:
    """The public origin itself, or a loopback origin (local tools such as MCP inspectors)."""
    try:
        parts = urlsplit(origin)
    except ValueError:  # an unclosed or invalid IPv6 bracket: no origin a browser sends
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    public = urlsplit(public_base_url())
    if (parts.scheme, parts.netloc.lower()) == (public.scheme, public.netloc.lower()):
        return True
    return parts.hostname.lower() in LOOPBACK_HOSTS


def _protocol_version(request) -> str:
    header = request.headers.get(VERSION_HEADER)
    return header.strip() if header is not None else HEADERLESS_VERSION


def _answer_id(request):
    """The id of the request in the body, read for a refusal that comes before the body is (401,
    429): JSON-RPC answers a null id only when it cannot be read. Best effort, and only from a
    body the endpoint would read: JSON by its Content-Type, not encoded, parsed as ``_read``
    parses it, a single request whose id is a string or an integer. A batch answers null."""
    if (request.content_type or "").lower() != "application/json":
        return None
    try:
        parsers.refuse_encoded_body(request)
        body = parse_body(request.body)
    except (errors.UnsupportedMediaType, RpcError):
        return None
    request_id = body.get("id") if isinstance(body, dict) else None
    return request_id if valid_id(request_id) else None


def _refused(request, exc: Exception, body) -> HttpResponse | None:
    """The answer to an error raised before the message runs (authenticating, counting the
    request), as the API would answer it but in JSON-RPC (``protocol.refusal``), with the request's
    id while the body is unread (``body`` None; a batch's count has none to answer). None for an
    error the API has no answer for: the middleware logs it and answers -32603."""
    error = to_service_error(exc)
    if error is None:
        return None
    if error.status >= 500:
        logger.error("%s on %s: %s", error.code, request.path, exc)
    rpc = refusal(error)
    if error.status == 401:
        rpc.headers["WWW-Authenticate"] = unauthorized_challenge(error)
    return _rpc_error(rpc, _answer_id(request) if body is None else None)


def _runs(item) -> bool:
    """Whether a batch's item is a request ``_batch_item`` runs (and so counts against the quota):
    not a notification, a client's response, an invalid message or an ``initialize``."""
    try:
        message = classify(item)
    except RpcError:
        return False
    return message.kind == "request" and message.method != "initialize"


def _accepts_json(accept: str | None) -> bool:
    if not accept:
        return True
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(kinds & {"application/json", "application/*", "*/*"})


@method_decorator(csrf_exempt, name="dispatch")  # bearer tokens only: no cookie, so nothing to forge
class McpView(View):
    http_method_names = ["get", "post", "delete"]

    def http_method_not_allowed(self, request, *args, **kwargs):
        error = errors.MethodNotAllowed(
            "This MCP endpoint is stateless: POST JSON-RPC messages; "
            "there is no stream to GET and no session to DELETE."
        )
        response = json_error(error)
        response["Allow"] = "POST"
        return response

    get = delete = http_method_not_allowed

    def post(self, request):
        origin = request.headers.get("Origin")
        if origin is not None and not _origin_allowed(origin):
            return _rpc_error(RpcError(INVALID_REQUEST, "Origin not allowed.", status=403))
        try:
            credential = mcp_authenticate(request)
        except Exception as exc:
            refused = _refused(request, exc, None)
            if refused is None:
                raise
            return refused
        request.user, request.auth = credential.user, credential
        body = None
        try:
            usage = ratelimit.consume(credential.user)
            response, body, extra = self._read(request)
            for _ in range(extra):
                usage = ratelimit.consume(credential.user)
        except ratelimit.QuotaExceeded as exceeded:
            data = exceeded.body()
            error = RpcError(
                QUOTA_EXCEEDED, "The account's request quota is used up.", data, status=429, headers=exceeded.headers()
            )
            # Refused before the body is read (nothing of it runs); a batch (its further requests
            # over the quota) has no one id to answer.
            return _rpc_error(error, _answer_id(request) if body is None else None)
        except Exception as exc:
            refused = _refused(request, exc, body)
            if refused is None:
                raise
            return refused
        if response is None:
            response = self._answer(request, credential, body)
        for name, value in usage.headers().items():
            response[name] = value
        active = getattr(request, "_active_space", None)
        if active is not None and active.notice:
            response[NOTICE_HEADER] = active.notice
        return response

    @staticmethod
    def _read(request) -> tuple[HttpResponse | None, object, int]:
        """(a refusal of the body or its media types, or None; the decoded body; how many more
        requests a batch holds, each of which counts against the quota too). A batch that its
        protocol revision refuses whole, or one over ``BATCH_MAX_MESSAGES`` (``_answer``), runs
        nothing, so it counts once."""
        content_type = (request.content_type or "").lower()
        if content_type != "application/json":
            message = "The body must be JSON (Content-Type: application/json)."
            return _rpc_error(RpcError(INVALID_REQUEST, message, status=415)), None, 0
        if not _accepts_json(request.headers.get("Accept")):
            return _rpc_error(RpcError(INVALID_REQUEST, "Accept must allow application/json.", status=406)), None, 0
        try:
            parsers.refuse_encoded_body(request)  # the REST rule: a gzip or br body is never read as plain
        except errors.UnsupportedMediaType as refused:
            error = RpcError(INVALID_REQUEST, refused.message, status=415, headers=refused.headers)
            return _rpc_error(error), None, 0
        try:
            body = parse_body(request.body)
        except RpcError as error:
            return _rpc_error(error), None, 0
        if isinstance(body, list) and _protocol_version(request) in BATCH_VERSIONS and len(body) <= BATCH_MAX_MESSAGES:
            return None, body, max(sum(1 for item in body if _runs(item)) - 1, 0)
        return None, body, 0

    def _answer(self, request, credential, body) -> HttpResponse:
        version = _protocol_version(request)
        is_initialize = isinstance(body, dict) and body.get("method") == "initialize"
        if version not in SUPPORTED_VERSIONS and not is_initialize:
            # A single request's id is answered when it can be read (JSON-RPC 2.0 §5); a batch's null.
            request_id = body.get("id") if isinstance(body, dict) else None
            return _rpc_error(unsupported_version(version), request_id if valid_id(request_id) else None)
        context = ToolContext(request=request, credential=credential, protocol_version=version)
        if not isinstance(body, list):
            try:
                message = classify(body)
            except RpcError as error:
                return _rpc_error(error)
            if message.kind != "request":
                return _accepted()
            try:
                return _json(result_message(message.id, self._request(message, context)))
            except RpcError as error:
                return _rpc_error(error, message.id)
        if version not in BATCH_VERSIONS:
            error = RpcError(
                INVALID_REQUEST, f"Invalid request: protocol version {version} has no JSON-RPC batches.", status=400
            )
            return _rpc_error(error)
        if not body:
            return _rpc_error(RpcError(INVALID_REQUEST, "Invalid request: an empty batch.", status=400))
        if len(body) > BATCH_MAX_MESSAGES:
            error = RpcError(
                INVALID_REQUEST,
                f"Invalid request: a batch holds at most {BATCH_MAX_MESSAGES} messages (this one holds {len(body)}).",
                status=400,
            )
            return _rpc_error(error)
        budget = BatchBudget()
        answers = []
        for item in body:
            answer = self._batch_item(item, context, budget)
            if answer is not None:
                # Encoded as it comes: the budget counts the bytes sent, and the answer's objects are freed.
                answers.append(_encoded(answer))
                budget.spend(answers[-1])
        return _json(b"[" + b",".join(answers) + b"]") if answers else _accepted()

    def _batch_item(self, item, context: ToolContext, budget: BatchBudget) -> dict | None:
        try:
            message = classify(item)
        except RpcError as error:
            return error_message(error.answer_id, error)
        if message.kind != "request":
            return None
        if message.method == "initialize":
            error = RpcError(INVALID_REQUEST, "Invalid request: initialize may not be part of a batch.")
            return error_message(message.id, error)
        refused = budget.admit()
        if refused is not None:
            return error_message(message.id, refused)
        try:
            return result_message(message.id, self._request(message, context))
        except RpcError as error:
            return error_message(message.id, error)

    @staticmethod
    def _request(message: Message, context: ToolContext) -> dict:
        if message.params_error:
            raise RpcError(
                INVALID_PARAMS,
                f"Invalid params: {message.params_error}",
                {"fields": {"params": [message.params_error]}},
            )
        return dispatch(message.method, message.params, context)
