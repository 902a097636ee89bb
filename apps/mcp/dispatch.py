"""The MCP methods this server answers: initialize, ping, tools/list, tools/call.

The server is stateless: nothing is remembered between HTTP requests (no ``Mcp-Session-Id``),
so ``initialize`` only negotiates the protocol version and states the capabilities, and every
later request carries its own bearer token and ``MCP-Protocol-Version`` header.
"""

from __future__ import annotations

import logging

from django.conf import settings

from synchronex.api.exceptions import internal_error, to_service_error

from . import tools as _tools  # noqa: F401 - registers every tool
from .protocol import INTERNAL_ERROR, INVALID_PARAMS, METHOD_NOT_FOUND, RpcError, negotiate
from .tools.registry import TOOLS, ToolContext, call

logger = logging.getLogger("synchronex.mcp")

INSTRUCTIONS = (
    "Synchronex keeps the user's durable memory: an Identity Kernel (who they are, standing "
    "constraints), a state per product, and a searchable index of decisions. At the start of a "
    "session call register_session for the product you work on, then get_identity_kernel (put its "
    "injection_block in your context) and get_session_handoff. Record decisions with log_decision "
    "as they are made, keep update_product_state current, and finish with end_session and a summary. "
    "check_memory_confidence tells whether a context block you hold is still current."
)


def _initialize(params: dict) -> dict:
    requested = params.get("protocolVersion")
    if not isinstance(requested, str):
        raise RpcError(
            INVALID_PARAMS,
            "Invalid params: protocolVersion must be a string.",
            {"fields": {"protocolVersion": ["This field is required (a string)."]}},
        )
    return {
        "protocolVersion": negotiate(requested),
        "capabilities": {"tools": {"listChanged": False}},
        "serverInfo": {
            "name": "synchronex",
            "title": "Synchronex memory",
            "version": settings.SPECTACULAR_SETTINGS["VERSION"],
        },
        "instructions": INSTRUCTIONS,
    }


def _tools_list(params: dict) -> dict:
    if params.get("cursor") is not None:
        # Every tool fits on the first page, so no cursor was ever issued.
        raise RpcError(INVALID_PARAMS, "Invalid params: unknown cursor.", {"fields": {"cursor": ["Unknown cursor."]}})
    return {"tools": [found.listing() for found in TOOLS.values()]}


def dispatch(method: str, params: dict, context: ToolContext) -> dict:
    """The result of one request, or RpcError."""
    try:
        if method == "initialize":
            return _initialize(params)
        if method == "ping":
            return {}
        if method == "tools/list":
            return _tools_list(params)
        if method == "tools/call":
            return call(context, params)
    except RpcError:
        raise
    except Exception as exc:  # one failing request must not take down a batch, nor leak internals
        error = to_service_error(exc)
        if error is None:
            logger.exception("Unhandled error in MCP method %s", method)
            error = internal_error()
        elif error.status >= 500:
            logger.error("%s in MCP method %s: %s", error.code, method, exc)
        raise RpcError(INTERNAL_ERROR, error.message, {"code": error.code}) from None
    raise RpcError(METHOD_NOT_FOUND, f"Method not found: {method[:100]}")
