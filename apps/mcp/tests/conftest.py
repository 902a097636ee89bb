"""Fixtures for the MCP tests: the live server as the public origin, and a JSON-RPC client."""

from __future__ import annotations

import itertools

import pytest
import requests

from apps.mcp.protocol import LATEST_VERSION

_ids = itertools.count(1)


class Mcp:
    """A raw JSON-RPC client for ``/mcp`` over real HTTP (one POST per call)."""

    def __init__(self, base_url: str, token: str | None = None, version: str | None = LATEST_VERSION):
        self.url = f"{base_url}/mcp"
        self.token = token
        self.version = version

    def headers(self, extra: dict | None = None, *, token=...) -> dict:
        headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
        bearer = self.token if token is ... else token
        if bearer:
            headers["Authorization"] = f"Bearer {bearer}"
        if self.version:
            headers["MCP-Protocol-Version"] = self.version
        headers.update(extra or {})
        return {k: v for k, v in headers.items() if v is not None}

    def post(self, body=None, *, data: bytes | None = None, headers: dict | None = None, token=...):
        return requests.post(
            self.url,
            json=body if data is None else None,
            data=data,
            headers=self.headers(headers, token=token),
            timeout=30,
        )

    def rpc(self, method: str, params: dict | None = None, **kwargs) -> requests.Response:
        body = {"jsonrpc": "2.0", "id": next(_ids), "method": method}
        if params is not None:
            body["params"] = params
        return self.post(body, **kwargs)

    def call(self, name: str, arguments: dict | None = None, **kwargs) -> requests.Response:
        return self.rpc("tools/call", {"name": name, "arguments": arguments or {}}, **kwargs)

    def tool(self, name: str, arguments: dict | None = None, **kwargs) -> dict:
        """The structured result of a tool call that must succeed."""
        response = self.call(name, arguments, **kwargs)
        assert response.status_code == 200, response.text
        body = response.json()
        assert "error" not in body, body
        assert body["result"]["isError"] is False, body["result"]
        return body["result"]["structuredContent"]

    def tool_error(self, name: str, arguments: dict | None = None, **kwargs) -> dict:
        """The error envelope of a tool call that ran and failed (``isError: true``)."""
        response = self.call(name, arguments, **kwargs)
        assert response.status_code == 200, response.text
        result = response.json()["result"]
        assert result["isError"] is True, result
        return result["structuredContent"]["error"]

    def argument_errors(self, name: str, arguments: dict | None = None, **kwargs) -> dict:
        """The ``details.fields`` of a call whose arguments the tool refused (a VALIDATION_ERROR
        tool result under 2025-11-25, SEP-1303), after checking nothing else came back."""
        error = self.tool_error(name, arguments, **kwargs)
        assert error["code"] == "VALIDATION_ERROR" and set(error) == {"code", "message", "details"}, error
        return error["details"]["fields"]

    def rpc_error(self, name: str, arguments: dict | None = None, *, status: int = 200, **kwargs) -> dict:
        """The JSON-RPC error of a tool call refused at the protocol level."""
        response = self.call(name, arguments, **kwargs)
        assert response.status_code == status, response.text
        return response.json()["error"]


@pytest.fixture
def mcp_for(base_url, make_key):
    """``mcp_for(user, scope="write")`` → an MCP client carrying a fresh API key of that user."""

    def make(user, scope: str = "write", **kwargs) -> Mcp:
        return Mcp(base_url, make_key(user, scope), **kwargs)

    return make


@pytest.fixture
def mcp(mcp_for, person) -> Mcp:
    return mcp_for(person)
