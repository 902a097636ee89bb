"""``/mcp`` at the HTTP and JSON-RPC level: framing, versions, batches, errors, auth, quota."""

from __future__ import annotations

import pytest
import requests

from apps.decisions.models import Decision
from apps.mcp.models import McpSession
from apps.mcp.protocol import LATEST_VERSION, SUPPORTED_VERSIONS
from apps.mcp.tests.conftest import Mcp
from synchronex.api import ratelimit
from tests.support.quota import wait_for_fresh_minute_margin

# What the tools need (apps/mcp/tools), sorted: the /mcp challenge and its RFC 9728 document name these.
MCP_SCOPES = "decisions:read decisions:write memory:read memory:write"

pytestmark = pytest.mark.django_db(transaction=True)


def test_initialize_echoes_a_supported_version_and_states_tool_capability(mcp):
    response = mcp.rpc(
        "initialize",
        {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
        headers={"MCP-Protocol-Version": None},
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json"
    assert "Mcp-Session-Id" not in response.headers  # stateless
    result = response.json()["result"]
    assert result["protocolVersion"] == "2025-06-18"
    assert result["capabilities"] == {"tools": {"listChanged": False}}
    assert result["serverInfo"]["name"] == "synchronex"
    assert "register_session" in result["instructions"]


def test_initialize_answers_an_unknown_version_with_the_latest(mcp):
    result = mcp.rpc("initialize", {"protocolVersion": "2099-01-01", "capabilities": {}}).json()["result"]

    assert result["protocolVersion"] == LATEST_VERSION == SUPPORTED_VERSIONS[0]


def test_initialize_without_a_protocol_version_is_invalid_params(mcp):
    body = mcp.rpc("initialize", {"capabilities": {}}).json()

    assert body["error"]["code"] == -32602
    assert "protocolVersion" in body["error"]["data"]["fields"]


def accepted_without_a_body(response) -> None:
    """202, no body, and so no Content-Type (not Django's default text/html); never cached."""
    assert response.status_code == 202
    assert response.content == b""
    assert "Content-Type" not in response.headers
    assert response.headers["Cache-Control"] == "no-store"


def test_notifications_are_accepted_without_a_body(mcp):
    accepted_without_a_body(mcp.post({"jsonrpc": "2.0", "method": "notifications/initialized"}))


def test_a_client_response_is_accepted_without_a_body(mcp):
    accepted_without_a_body(mcp.post({"jsonrpc": "2.0", "id": 7, "result": {}}))


def test_ping_answers_an_empty_result(mcp):
    body = mcp.post({"jsonrpc": "2.0", "id": "abc", "method": "ping"}).json()

    assert body == {"jsonrpc": "2.0", "id": "abc", "result": {}}


def test_malformed_json_is_a_parse_error_with_a_null_id(mcp):
    response = mcp.post(data=b'{"jsonrpc": "2.0", "id": 1, "method": ')

    assert response.status_code == 400
    assert response.json() == {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": -32700, "message": "Parse error: the body is not valid JSON."},
    }


@pytest.mark.parametrize("payload", [b"NaN", b"\xff\xfe{}"])
def test_non_json_constants_and_bad_encodings_are_parse_errors(mcp, payload):
    response = mcp.post(data=payload)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700


@pytest.mark.parametrize(
    ("message", "answer_id"),
    [
        ({"jsonrpc": "1.0", "id": 1, "method": "ping"}, 1),
        ({"id": 2, "method": "ping"}, 2),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": True, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": 1.5, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": 3, "method": 5}, 3),
        ({"jsonrpc": "2.0", "id": 4}, 4),
        ("ping", None),
    ],
)
def test_messages_that_are_not_json_rpc_are_invalid_requests(mcp, message, answer_id):
    response = mcp.post(message)

    assert response.status_code == 400
    body = response.json()
    assert body["id"] == answer_id
    assert body["error"]["code"] == -32600


def test_params_that_are_not_an_object_are_invalid_params(mcp):
    body = mcp.post({"jsonrpc": "2.0", "id": 9, "method": "tools/list", "params": [1, 2]}).json()

    assert body["id"] == 9
    assert body["error"]["code"] == -32602


def test_an_unknown_method_is_method_not_found(mcp):
    response = mcp.rpc("resources/list")

    assert response.status_code == 200
    assert response.json()["error"] == {"code": -32601, "message": "Method not found: resources/list"}


def test_tools_list_rejects_a_cursor_it_never_issued(mcp):
    body = mcp.rpc("tools/list", {"cursor": "page-2"}).json()

    assert body["error"]["code"] == -32602


@pytest.mark.parametrize("method", ["get", "delete"])
def test_get_and_delete_are_not_allowed(base_url, method):
    response = getattr(requests, method)(f"{base_url}/mcp", timeout=30)

    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"


def test_an_unsupported_protocol_version_header_is_refused_with_the_supported_list(mcp):
    response = mcp.rpc("tools/list", headers={"MCP-Protocol-Version": "2026-07-28"})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32022
    assert error["data"] == {"supported": list(SUPPORTED_VERSIONS), "requested": "2026-07-28"}


def test_an_unsupported_protocol_version_answers_the_requests_id(mcp):
    response = mcp.post(
        {"jsonrpc": "2.0", "id": 42, "method": "tools/list"}, headers={"MCP-Protocol-Version": "2024-11-05"}
    )

    assert response.status_code == 400
    assert response.json()["id"] == 42
    assert response.json()["error"]["code"] == -32022


def test_a_body_that_is_not_json_is_unsupported_media_type(mcp):
    response = mcp.post(data=b"ping", headers={"Content-Type": "text/plain"})

    assert response.status_code == 415
    assert response.json()["error"]["code"] == -32600


def test_a_client_that_cannot_accept_json_is_refused(mcp):
    response = mcp.rpc("ping", headers={"Accept": "text/html"})

    assert response.status_code == 406


def test_a_foreign_origin_is_refused_and_loopback_origins_are_allowed(mcp, base_url):
    assert mcp.rpc("ping", headers={"Origin": "https://evil.example"}).status_code == 403
    assert mcp.rpc("ping", headers={"Origin": "http://localhost:6274"}).status_code == 200
    assert mcp.rpc("ping", headers={"Origin": base_url}).status_code == 200


@pytest.mark.parametrize("origin", ["http://[::1", "http://[not-an-ip]"])
def test_an_origin_that_is_no_url_is_refused_not_a_server_error(mcp, origin):
    response = mcp.rpc("ping", headers={"Origin": origin})

    assert response.status_code == 403, response.text
    assert response.json()["error"]["message"] == "Origin not allowed."


# --- batches (2025-03-26 only) -------------------------------------------------------------------
def test_a_batch_answers_each_request_and_skips_notifications(mcp):
    mcp.version = "2025-03-26"
    body = [
        {"jsonrpc": "2.0", "id": 1, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "nope"},
        {"jsonrpc": "2.0", "id": 3, "method": "initialize", "params": {"protocolVersion": "2025-03-26"}},
        {"jsonrpc": "1.0", "id": 4, "method": "ping"},
    ]

    response = mcp.post(body)

    assert response.status_code == 200
    answers = {answer["id"]: answer for answer in response.json()}
    assert set(answers) == {1, 2, 3, 4}
    assert answers[1]["result"] == {}
    assert answers[2]["error"]["code"] == -32601
    assert answers[3]["error"]["code"] == -32600  # initialize may not be batched
    assert answers[4]["error"]["code"] == -32600


def test_a_batch_without_a_version_header_is_read_as_2025_03_26(mcp):
    mcp.version = None

    response = mcp.post([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])

    assert response.json() == [{"jsonrpc": "2.0", "id": 1, "result": {}}]


def test_a_batch_of_notifications_is_accepted_without_a_body(mcp):
    mcp.version = "2025-03-26"

    accepted_without_a_body(mcp.post([{"jsonrpc": "2.0", "method": "notifications/initialized"}]))


def test_batches_are_refused_in_revisions_without_them(mcp):
    response = mcp.post([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])

    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600


def test_an_empty_batch_is_an_invalid_request(mcp):
    mcp.version = "2025-03-26"

    response = mcp.post([])

    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32600


# --- authentication ------------------------------------------------------------------------------
def test_a_missing_token_is_401_with_the_resource_metadata_challenge(base_url):
    response = Mcp(base_url).rpc("tools/list")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="synchronex", resource_metadata="{base_url}/.well-known/oauth-protected-resource/mcp", '
        f'scope="{MCP_SCOPES}"'
    )
    error = response.json()["error"]
    assert error["code"] == -32030
    assert error["data"]["code"] == "UNAUTHORIZED"


@pytest.mark.parametrize("token", ["sx_live_" + "A" * 43, "sxo_" + "b" * 43, "nonsense"])
def test_an_unknown_token_is_401_invalid_token(base_url, token):
    response = Mcp(base_url, token).rpc("tools/list")

    assert response.status_code == 401
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="invalid_token"' in challenge
    assert f'resource_metadata="{base_url}/.well-known/oauth-protected-resource/mcp"' in challenge
    assert f'scope="{MCP_SCOPES}"' in challenge


def test_a_refused_token_answers_the_requests_id_when_it_can_be_read(base_url):
    client = Mcp(base_url, "sx_live_" + "A" * 43)

    by_number = client.post({"jsonrpc": "2.0", "id": 42, "method": "tools/list"})
    by_string = client.post({"jsonrpc": "2.0", "id": "a-1", "method": "ping"})
    # A batch, an id of no valid type, and a body declared encoded (never read as plain) answer null.
    batch = client.post([{"jsonrpc": "2.0", "id": 1, "method": "ping"}])
    boolean = client.post({"jsonrpc": "2.0", "id": True, "method": "ping"})
    encoded = client.post(data=b'{"jsonrpc": "2.0", "id": 5, "method": "ping"}', headers={"Content-Encoding": "br"})

    assert by_number.status_code == 401 and by_number.json()["id"] == 42
    assert by_number.json()["error"]["code"] == -32030
    assert by_string.json()["id"] == "a-1"
    for response in (batch, boolean, encoded):
        assert response.status_code == 401 and response.json()["id"] is None, response.text


def test_the_failed_token_throttle_answers_json_rpc_with_the_requests_id(base_url, mcp, settings):
    """Past ``API_AUTH_FAILURES_PER_MINUTE`` every token from the address is refused 429, a valid
    one too: as JSON-RPC, the only answer an MCP client reads, never the REST envelope."""
    settings.API_AUTH_FAILURES_PER_MINUTE = 2
    wait_for_fresh_minute_margin(8)
    guesser = Mcp(base_url, "sx_live_" + "B" * 43)
    assert [guesser.post({"jsonrpc": "2.0", "id": n, "method": "ping"}).status_code for n in (1, 2)] == [401, 401]

    past = guesser.post({"jsonrpc": "2.0", "id": 3, "method": "ping"})
    valid = mcp.post({"jsonrpc": "2.0", "id": "abc", "method": "ping"})  # the account's own key, same address

    for response, request_id in ((past, 3), (valid, "abc")):
        assert response.status_code == 429, response.text
        assert 1 <= int(response.headers["Retry-After"]) <= 60
        body = response.json()
        assert body["jsonrpc"] == "2.0" and body["id"] == request_id, body
        assert body["error"]["code"] == -32034
        assert body["error"]["data"]["code"] == "RATE_LIMITED"
        assert body["error"]["message"] == body["error"]["data"]["message"]


def test_a_session_cookie_is_not_a_credential(base_url, person):
    from apps.oauth.tests.helpers import login

    session = login(base_url, person.email)
    response = session.post(
        f"{base_url}/mcp",
        json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
        headers={"X-CSRFToken": session.cookies.get("csrftoken", "")},
        timeout=30,
    )

    assert response.status_code == 401


def test_protected_resource_metadata_advertises_the_mcp_endpoint(base_url):
    response = requests.get(f"{base_url}/.well-known/oauth-protected-resource/mcp", timeout=30)

    assert response.status_code == 200
    metadata = response.json()
    assert metadata["resource"] == f"{base_url}/mcp"
    assert metadata["authorization_servers"] == [base_url]
    # The scopes the tools need, not the whole catalogue: spec-following clients (the MCP SDK)
    # ask for what is listed here, and no tool needs byok:* or costs:read.
    assert metadata["scopes_supported"] == MCP_SCOPES.split()
    server = requests.get(f"{base_url}/.well-known/oauth-authorization-server", timeout=30).json()
    assert server["issuer"] == base_url
    assert server["registration_endpoint"].endswith("/api/oauth/register")


# --- quota ---------------------------------------------------------------------------------------
def test_every_response_carries_the_rate_limit_headers(mcp):
    response = mcp.rpc("ping")

    assert response.headers["X-RateLimit-Limit"] == "300"  # the pro user's per-minute quota
    assert int(response.headers["X-RateLimit-Remaining"]) == 299


def test_a_batch_refused_for_its_revision_counts_once(mcp):
    wait_for_fresh_minute_margin(5)
    batch = [{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in range(50)]

    response = mcp.post(batch)  # 2025-11-25 has no batches: nothing of it runs

    assert response.status_code == 400
    assert int(response.headers["X-RateLimit-Remaining"]) == 299


def test_each_request_of_a_batch_counts_against_the_quota(mcp):
    mcp.version = "2025-03-26"
    batch = [{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in range(5)]

    response = mcp.post(batch)

    assert int(response.headers["X-RateLimit-Remaining"]) == 295


def test_only_the_requests_a_batch_runs_count_against_the_quota(mcp):
    wait_for_fresh_minute_margin(5)
    mcp.version = "2025-03-26"
    batch = [{"jsonrpc": "2.0", "id": 100 + n, "result": {}} for n in range(10)]  # the client's responses
    batch += [{"jsonrpc": "2.0", "method": "notifications/initialized"}]
    batch += [{"jsonrpc": "1.0", "id": 7, "method": "ping"}, {"jsonrpc": "2.0", "id": 8, "method": "initialize"}]
    batch += [{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in range(3)]

    response = mcp.post(batch)

    assert response.status_code == 200
    assert int(response.headers["X-RateLimit-Remaining"]) == 297  # the three pings


def test_an_exhausted_quota_is_429_with_retry_after_and_the_contract_body(make_user, mcp_for):
    wait_for_fresh_minute_margin(5)
    user = make_user(tier="free")
    client = mcp_for(user)
    for _ in range(60):
        ratelimit.consume(user)

    response = client.rpc("ping")

    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    error = response.json()["error"]
    assert error["code"] == -32032
    assert error["data"]["error"] == "rate_limit_exceeded"
    assert error["data"]["limit"] == 60
    assert error["data"]["remaining"] == 0
    assert error["data"]["reset_at"].endswith("Z")


def test_an_exhausted_quota_answers_the_requests_id_without_running_it(make_user, mcp_for):
    wait_for_fresh_minute_margin(5)
    user = make_user(tier="free")
    client = mcp_for(user)
    for _ in range(60):
        ratelimit.consume(user)

    refused = client.post(
        {
            "jsonrpc": "2.0",
            "id": 61,
            "method": "tools/call",
            "params": {"name": "log_decision", "arguments": {"decision": "Never stored", "product_name": "Atlas"}},
        }
    )

    assert refused.status_code == 429
    assert refused.json()["id"] == 61 and refused.json()["error"]["code"] == -32032
    assert not Decision.objects.filter(decision="Never stored").exists()


def test_refused_bodies_count_against_the_quota_too(mcp):
    wait_for_fresh_minute_margin(5)
    malformed = mcp.post(data=b"{")
    wrong_type = mcp.post(data=b"{}", headers={"Content-Type": "text/plain"})

    assert malformed.status_code == 400 and malformed.headers["X-RateLimit-Remaining"] == "299"
    assert wrong_type.status_code == 415 and wrong_type.headers["X-RateLimit-Remaining"] == "298"


def _tool_call(name: str, arguments: str) -> bytes:
    return (
        f'{{"jsonrpc": "2.0", "id": 7, "method": "tools/call", "params": {{"name": "{name}", '
        f'"arguments": {arguments}}}}}'
    ).encode()


@pytest.mark.parametrize(
    ("tool", "arguments", "reason"),
    [
        ("get_product_state", '{"product_name": "\\ud800"}', "a lone UTF-16 surrogate"),
        ("register_session", '{"product_name": "A", "label": "\\udfff tail"}', "a lone UTF-16 surrogate"),
        ("register_session", '{"product_name": "A", "metadata": {"x": 1e400}}', "a number too large"),
        (
            "register_session",
            '{"product_name": "A", "metadata": ' + '{"k": ' * 62 + "1" + "}" * 62 + "}",
            "more than 64 levels",
        ),
    ],
)
def test_a_body_holding_values_no_column_can_hold_is_a_parse_error(mcp, tool, arguments, reason):
    response = mcp.post(data=_tool_call(tool, arguments))

    assert response.status_code == 400
    body = response.json()
    assert body["id"] is None and body["error"]["code"] == -32700
    assert reason in body["error"]["message"]
    assert not McpSession.objects.exists()


def test_a_body_nested_64_levels_deep_is_read(mcp):
    # The body, params, arguments and 61 levels of metadata: 64 in all.
    nested = '{"product_name": "A", "metadata": ' + '{"k": ' * 61 + "1" + "}" * 61 + "}"

    response = mcp.post(data=_tool_call("register_session", nested))

    assert response.status_code == 200 and response.json()["result"]["isError"] is False
