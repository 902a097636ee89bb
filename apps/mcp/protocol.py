"""JSON-RPC 2.0 framing for MCP over Streamable HTTP: messages, errors, protocol versions.

Pure functions and small types; no HTTP and no database. ``views.McpView`` drives them.

Error codes: the JSON-RPC ones (-32700 parse error, -32600 invalid request, -32601 method not
found, -32602 invalid params, -32603 internal error), MCP's -32022 for an unsupported
``MCP-Protocol-Version``, and five of this server's own in the implementation-defined range:
-32030 unauthorized, -32031 insufficient scope, -32032 account quota exceeded, -32033 a request
of a batch not run because the batch reached its answer or time limit (``batch.BatchBudget``),
-32034 too many failed authentications from the client's address (``REFUSAL_CODES``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from synchronex.api.parsers import JsonRefused, loads_strict

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
UNSUPPORTED_PROTOCOL_VERSION = -32022
UNAUTHORIZED = -32030
INSUFFICIENT_SCOPE = -32031
QUOTA_EXCEEDED = -32032
BATCH_LIMIT_REACHED = -32033
AUTH_FAILURES_LIMITED = -32034

# The JSON-RPC code of a request refused before its message is read, by the API error it carries
# as ``data`` (``refusal``): this server's own where the client has something to do (sign in again,
# wait out the failed-token throttle), -32603 where the server cannot serve it now (as a tool that
# meets the same outage answers, ``dispatch``), else -32600.
REFUSAL_CODES = {
    "UNAUTHORIZED": UNAUTHORIZED,
    "TOKEN_EXPIRED": UNAUTHORIZED,
    "RATE_LIMITED": AUTH_FAILURES_LIMITED,
    "SERVICE_UNAVAILABLE": INTERNAL_ERROR,
    "INTERNAL_ERROR": INTERNAL_ERROR,
}

# Revisions negotiated through ``initialize``, newest first. 2026-07-28 and later (no
# initialize handshake) are answered with -32022 naming these, so modern clients fall back.
SUPPORTED_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
LATEST_VERSION = SUPPORTED_VERSIONS[0]
# Streamable HTTP: without an MCP-Protocol-Version header a server assumes 2025-03-26.
HEADERLESS_VERSION = "2025-03-26"
# JSON-RPC batches exist only in 2025-03-26 (2025-06-18 removed them).
BATCH_VERSIONS = frozenset({"2025-03-26"})
# Tool results carry ``structuredContent`` from 2025-06-18 on.
STRUCTURED_CONTENT_VERSIONS = frozenset({"2025-06-18", "2025-11-25"})
# Arguments a tool refuses are a tool result with ``isError: true`` from 2025-11-25 on (SEP-1303:
# the model reads the message and corrects its call); earlier revisions answer -32602.
ARGUMENT_ERRORS_AS_RESULTS_VERSIONS = frozenset({"2025-11-25"})


class RpcError(Exception):
    """A JSON-RPC error; ``status`` and ``headers`` apply when it answers a single message."""

    def __init__(
        self, code: int, message: str, data=None, *, status: int = 200, headers: dict | None = None, answer_id=None
    ):
        super().__init__(message)
        self.code = code
        # The id to answer with when the message could not be fully read (else the request's).
        self.answer_id = answer_id
        self.message = message
        self.data = data
        self.status = status
        self.headers = headers or {}

    def body(self) -> dict:
        error: dict = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


@dataclass(frozen=True)
class Message:
    """One inbound JSON-RPC message: a request (has an id), a notification, or a response."""

    kind: str  # "request" | "notification" | "response"
    method: str | None = None
    id: str | int | None = None
    params: dict = field(default_factory=dict)
    params_error: str | None = None  # params present but not an object (answered with -32602)


def parse_body(raw: bytes):
    """The decoded JSON body, or RpcError(PARSE_ERROR) (HTTP 400).

    As the REST API's parser does, a body is refused whole when it nests more than ``MAX_DEPTH``
    levels or holds a value no column can hold (a lone UTF-16 surrogate, a number beyond a double
    such as ``1e400``), so no tool ever meets one.
    """
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RpcError(PARSE_ERROR, "Parse error: the body is not UTF-8.", status=400) from None
    try:
        return loads_strict(text)
    except JsonRefused as exc:
        raise RpcError(PARSE_ERROR, f"Parse error: {exc}.", status=400) from None
    except ValueError:
        raise RpcError(PARSE_ERROR, "Parse error: the body is not valid JSON.", status=400) from None


def valid_id(value) -> bool:
    """MCP request ids are strings or integers, never null (and JSON booleans are not numbers)."""
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def classify(obj) -> Message:
    """Check one JSON value against JSON-RPC 2.0 as MCP uses it; RpcError(INVALID_REQUEST) if not.

    The error carries the message's id when that id is itself valid, so a client can match it.
    """
    if not isinstance(obj, dict):
        raise RpcError(INVALID_REQUEST, "Invalid request: a JSON-RPC message must be an object.", status=400)
    request_id = obj.get("id")
    answer_id = request_id if valid_id(request_id) else None
    if obj.get("jsonrpc") != "2.0":
        raise _invalid('"jsonrpc" must be "2.0".', answer_id)
    if "method" not in obj:
        if "id" in obj and ("result" in obj) != ("error" in obj):
            return Message(kind="response", id=answer_id)
        raise _invalid('a request needs a "method".', answer_id)
    method = obj["method"]
    if not isinstance(method, str) or not method:
        raise _invalid('"method" must be a non-empty string.', answer_id)
    if "id" in obj and not valid_id(request_id):
        raise _invalid('"id" must be a string or an integer (not null).', None)
    params = obj.get("params", {})
    params_error = None
    if params is None or not isinstance(params, dict):
        params_error = '"params" must be an object.'
        params = {}
    kind = "request" if "id" in obj else "notification"
    return Message(
        kind=kind, method=method, id=request_id if kind == "request" else None, params=params, params_error=params_error
    )


def _invalid(reason: str, answer_id) -> RpcError:
    return RpcError(INVALID_REQUEST, f"Invalid request: {reason}", status=400, answer_id=answer_id)


def result_message(request_id, result: dict) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def error_message(request_id, error: RpcError) -> dict:
    return {"jsonrpc": "2.0", "id": request_id, "error": error.body()}


def refusal(error) -> RpcError:
    """A request refused before its message was read (its token, the failed-token throttle, a store
    that cannot count it, the middleware's refusals of its body): the API's error (a
    ``ServiceError``) as ``data``, its HTTP status and headers, the code by ``REFUSAL_CODES``. A
    client reads nothing else at a non-2xx status: the official SDK showed only "Server returned an
    error response" for the API's envelope."""
    data = {"code": error.code, "message": error.message, **({"details": error.details} if error.details else {})}
    code = REFUSAL_CODES.get(error.code, INVALID_REQUEST)
    return RpcError(code, error.message, data, status=error.status, headers=dict(error.headers))


def refusal_message(error) -> dict:
    """``refusal`` answered with a null id: the middleware's, made before the body is read."""
    return error_message(None, refusal(error))


def negotiate(requested) -> str:
    """The version to answer ``initialize`` with: the client's when supported, else the latest."""
    return requested if requested in SUPPORTED_VERSIONS else LATEST_VERSION


def unsupported_version(version: str) -> RpcError:
    return RpcError(
        UNSUPPORTED_PROTOCOL_VERSION,
        f"Unsupported MCP-Protocol-Version {version!r}.",
        {"supported": list(SUPPORTED_VERSIONS), "requested": version},
        status=400,
    )
