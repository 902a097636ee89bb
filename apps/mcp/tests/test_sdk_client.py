"""The official MCP Python SDK against the running server (Streamable HTTP transport).

Every tool is called through ``mcp.Client`` with an API key and with an OAuth token; errors
come back as the SDK's ``MCPError``; and the SDK's own OAuth client runs the whole
authorization flow from the 401 challenge (discovery, registration, consent, token), including
step-up authorization when a tool needs a scope the token lacks.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from mcp.shared.exceptions import MCPError

from apps.mcp.models import McpSession
from apps.oauth.tests.helpers import REDIRECT_URI, consent, login, obtain_tokens, redirect_query
from apps.products.models import ProductState

pytestmark = pytest.mark.django_db(transaction=True)

ALL_SCOPES = "memory:read memory:write decisions:read decisions:write"


def connect(base_url: str, token: str | None = None, *, auth=None, **options) -> Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    http = httpx2.AsyncClient(headers=headers, auth=auth, timeout=30)
    return Client(streamable_http_client(f"{base_url}/mcp", http_client=http), **options)


async def every_tool(client: Client) -> dict:
    """Call each tool once, in the order a session uses them; returns what each answered."""
    out: dict = {"tools": {tool.name for tool in (await client.list_tools()).tools}}

    async def call(name: str, arguments: dict) -> dict:
        result = await client.call_tool(name, arguments)
        assert result.is_error is False, (name, result)
        out[name] = result.structured_content
        return result.structured_content

    session = await call("register_session", {"product_name": "Atlas", "agent_name": "sdk-test"})
    await call("get_identity_kernel", {"session_id": session["session_id"], "client_type": "mcp-python-sdk"})
    await call("update_product_state", {"product_name": "Atlas", "what_is_blocked": ["CI is red"]})
    await call("log_decision", {"decision": "Pin every dependency", "product_name": "Atlas", "tags": ["build"]})
    await call("search_decisions", {"query": "pin dependency", "product_name": "Atlas"})
    await call("get_product_state", {"product_name": "Atlas"})
    kernel = out["get_identity_kernel"]["injection_block"]
    await call(
        "check_memory_confidence", {"context_block": kernel + "\n- Pin every dependency", "product_name": "Atlas"}
    )
    await call("end_session", {"session_id": session["session_id"], "summary": "Pinned the build."})
    await call("get_session_handoff", {"product_name": "Atlas"})
    exported = await call("export_memories", {"types": ["product", "decision"]})
    await call("import_memories", {"document": exported["document"], "dry_run": True})
    return out


def assert_every_tool_worked(out: dict) -> None:
    assert out["tools"] >= {
        "register_session",
        "end_session",
        "get_identity_kernel",
        "get_product_state",
        "get_session_handoff",
        "search_decisions",
        "log_decision",
        "update_product_state",
        "check_memory_confidence",
        "export_memories",
        "import_memories",
    }
    assert out["get_identity_kernel"]["session"]["product_name"] == "Atlas"
    assert out["update_product_state"]["what_is_blocked"] == ["CI is red"]
    assert out["log_decision"]["tags"] == ["build"]
    assert [hit["decision"] for hit in out["search_decisions"]["results"]] == ["Pin every dependency"]
    assert out["get_product_state"]["recent_decisions"][0]["decision"] == "Pin every dependency"
    assert out["end_session"] == {**out["end_session"], "decisions_captured": 1, "handoff_note": "Pinned the build."}
    assert out["get_session_handoff"]["last_session"]["agent_name"] == "sdk-test"
    assert out["check_memory_confidence"]["product"]["name"] == "Atlas"
    assert len(out["export_memories"]["document"]["memories"]) == 2
    assert out["import_memories"] == {**out["import_memories"], "dry_run": True, "duplicates_skipped": 2}


def test_sdk_client_negotiates_and_calls_every_tool_with_an_api_key(base_url, person, make_key):
    key = make_key(person, "write")

    async def main():
        async with connect(base_url, key) as client:
            assert client.protocol_version == "2025-11-25"  # the discover probe fell back to initialize
            assert client.server_info.name == "synchronex"
            return await every_tool(client)

    out = anyio.run(main)

    assert_every_tool_worked(out)
    session = McpSession.objects.get()
    assert session.actor.startswith("api_key:") and session.client_type == "mcp-python-sdk"
    assert ProductState.objects.get(name="Atlas").last_session_summary == "Pinned the build."


def test_sdk_client_calls_every_tool_with_an_oauth_token_for_the_mcp_resource(base_url, person):
    client_info, tokens = obtain_tokens(base_url, person.email, scope=ALL_SCOPES, resource=f"{base_url}/mcp")

    async def main():
        async with connect(base_url, tokens["access_token"], mode="legacy") as client:
            return await every_tool(client)

    out = anyio.run(main)

    assert_every_tool_worked(out)
    assert McpSession.objects.get().actor == f"oauth:{client_info['client_id']}"


@pytest.mark.parametrize("version", ["2025-03-26", "2025-06-18"])
def test_sdk_client_negotiates_older_revisions(base_url, person, make_key, monkeypatch, version):
    from mcp.client import session as client_session

    monkeypatch.setattr(client_session, "LATEST_HANDSHAKE_VERSION", version)
    key = make_key(person, "read")

    async def main():
        async with connect(base_url, key, mode="legacy") as client:
            result = await client.call_tool("get_identity_kernel", {})
            return client.protocol_version, result

    negotiated, result = anyio.run(main)

    assert negotiated == version
    assert result.is_error is False


def test_sdk_client_gets_bad_arguments_and_tool_errors_as_results_and_unknown_tools_as_errors(
    base_url, person, make_key
):
    key = make_key(person, "write")

    async def main():
        async with connect(base_url, key) as client:
            bad = await client.call_tool("log_decision", {"decision": "x"})
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("no_such_tool", {})
            missing = await client.call_tool("get_product_state", {"product_name": "Ghost"})
            return bad, unknown.value, missing

    bad, unknown, missing = anyio.run(main)

    assert bad.is_error is True  # SEP-1303, revision 2025-11-25
    assert bad.structured_content["error"]["details"]["fields"] == {"product_name": ["This field is required."]}
    assert unknown.code == -32602
    assert missing.is_error is True
    assert missing.structured_content["error"]["code"] == "NOT_FOUND"


def test_sdk_client_reads_why_a_body_over_the_limit_was_refused(base_url, person, make_key):
    key = make_key(person, "write")

    async def main():
        async with connect(base_url, key) as client:
            with pytest.raises(MCPError) as refused:
                await client.call_tool("log_decision", {"decision": "x" * 1024 * 1024, "product_name": "Atlas"})
            return refused.value

    error = anyio.run(main)

    assert error.code == -32600
    assert error.message == "The request body is over the limit of 1048576 bytes."
    assert error.data["code"] == "PAYLOAD_TOO_LARGE"


def connect_error(base_url: str, token: str | None = None) -> MCPError:
    """The MCPError that refuses a connection (anyio may wrap it in exception groups)."""

    async def main():
        async with connect(base_url, token) as client:
            await client.list_tools()

    with pytest.raises(BaseException) as raised:  # noqa: PT011 - unwrapped just below
        anyio.run(main)
    error = raised.value
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    assert isinstance(error, MCPError), raised.value
    return error


def test_sdk_client_without_a_token_gets_the_auth_error(base_url):
    error = connect_error(base_url)

    assert error.code == -32030
    assert error.data["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize(
    ("credential", "tool", "arguments", "scope"),
    [
        ("read key", "log_decision", {"decision": "x", "product_name": "A"}, "decisions:write"),
        ("oauth memory:read", "search_decisions", {"query": "x"}, "decisions:read"),
        ("oauth memory:read", "update_product_state", {"product_name": "A"}, "memory:write"),
    ],
)
def test_sdk_client_with_an_under_scoped_token_gets_the_scope_error(
    base_url, person, make_key, credential, tool, arguments, scope
):
    if credential == "read key":
        token = make_key(person, "read")
    else:
        token = obtain_tokens(base_url, person.email, scope="memory:read", resource=f"{base_url}/mcp")[1][
            "access_token"
        ]

    async def main():
        async with connect(base_url, token) as client:
            assert (await client.call_tool("get_identity_kernel", {})).is_error is False
            with pytest.raises(MCPError) as refused:
                await client.call_tool(tool, arguments)
            return refused.value

    error = anyio.run(main)

    assert error.code == -32031
    assert error.data["required_scopes"] == [scope]
    assert not ProductState.objects.exists()


def test_an_oauth_token_for_another_resource_is_refused(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email, scope=ALL_SCOPES, resource=f"{base_url}/api/v1")

    error = connect_error(base_url, tokens["access_token"])

    assert error.code == -32030
    assert "another resource" in error.message


# --- the SDK's own OAuth client ------------------------------------------------------------------
class MemoryStorage:
    def __init__(self, tokens: OAuthToken | None = None, client_info: OAuthClientInformationFull | None = None):
        self.tokens, self.client_info = tokens, client_info

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens):
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info):
        self.client_info = client_info


class Browser:
    """Plays the user: logged in, opens the authorization URL and clicks Allow."""

    def __init__(self, base_url: str, email: str):
        self.base_url, self.email = base_url, email
        self.visits: list[dict] = []
        self.answer: dict | None = None

    def _consent(self, url: str) -> None:
        params = dict(parse_qsl(urlsplit(url).query))
        self.visits.append(params)
        self.answer = redirect_query(consent(login(self.base_url, self.email), self.base_url, params))

    async def redirect(self, url: str) -> None:
        await anyio.to_thread.run_sync(self._consent, url)

    async def callback(self) -> AuthorizationCodeResult:
        return AuthorizationCodeResult(
            code=self.answer["code"], state=self.answer.get("state"), iss=self.answer.get("iss")
        )


def oauth_provider(base_url: str, browser: Browser, storage: MemoryStorage) -> OAuthClientProvider:
    return OAuthClientProvider(
        server_url=f"{base_url}/mcp",
        client_metadata=OAuthClientMetadata(client_name="SDK test client", redirect_uris=[REDIRECT_URI]),
        storage=storage,
        redirect_handler=browser.redirect,
        callback_handler=browser.callback,
    )


def test_the_sdk_runs_the_oauth_flow_by_itself_from_the_401_challenge(base_url, person):
    browser, storage = Browser(base_url, person.email), MemoryStorage()

    async def main():
        async with connect(base_url, auth=oauth_provider(base_url, browser, storage)) as client:
            return await every_tool(client)

    out = anyio.run(main)

    assert_every_tool_worked(out)
    assert len(browser.visits) == 1
    visit = browser.visits[0]
    assert visit["resource"] == f"{base_url}/mcp"  # RFC 8707: the token is bound to this endpoint
    assert visit["code_challenge_method"] == "S256"
    # The scopes the 401 challenge names (what the tools need), not the whole catalogue.
    assert set(visit["scope"].split()) == set(ALL_SCOPES.split())
    assert storage.tokens.access_token.startswith("sxo_")
    assert McpSession.objects.get().actor == f"oauth:{storage.client_info.client_id}"


def test_the_sdk_steps_up_when_a_tool_needs_a_scope_the_token_lacks(base_url, person):
    client_info, tokens = obtain_tokens(base_url, person.email, scope="memory:read", resource=f"{base_url}/mcp")
    storage = MemoryStorage(
        tokens=OAuthToken(**{k: tokens[k] for k in ("access_token", "expires_in", "scope", "refresh_token")}),
        client_info=OAuthClientInformationFull(**client_info),
    )
    browser = Browser(base_url, person.email)

    async def main():
        async with connect(base_url, auth=oauth_provider(base_url, browser, storage)) as client:
            kernel = await client.call_tool("get_identity_kernel", {})
            decision = await client.call_tool("log_decision", {"decision": "Step up", "product_name": "Atlas"})
            return kernel, decision

    kernel, decision = anyio.run(main)

    assert kernel.is_error is False and len(browser.visits) == 1  # only the write asked the user again
    assert set(browser.visits[0]["scope"].split()) >= {"memory:read", "decisions:write"}
    assert decision.is_error is False and decision.structured_content["decision"] == "Step up"
    assert "decisions:write" in storage.tokens.scope.split()
