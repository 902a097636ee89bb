"""The MCP tools over HTTP with API keys: results, argument errors, tool errors, scopes, isolation."""

from __future__ import annotations

import json
import uuid

import pytest
import requests

from apps.decisions.models import Decision
from apps.mcp.models import McpSession
from apps.mcp.tests.conftest import Mcp
from apps.scopes.models import Membership
from apps.scopes.services import member_put, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)

ALL_TOOLS = {
    "check_memory_confidence",
    "export_memories",
    "import_memories",
    "register_session",
    "end_session",
    "get_identity_kernel",
    "get_product_state",
    "get_session_handoff",
    "search_decisions",
    "log_decision",
    "update_product_state",
}


def put_kernel(base_url: str, token: str, body: dict) -> None:
    response = requests.put(
        f"{base_url}/api/v1/memory/identity", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text


def test_tools_list_publishes_each_tool_with_a_strict_schema_and_its_scope(mcp):
    tools = {t["name"]: t for t in mcp.rpc("tools/list").json()["result"]["tools"]}

    assert set(tools) == ALL_TOOLS
    for listed in tools.values():
        assert listed["inputSchema"]["type"] == "object"
        assert listed["inputSchema"]["additionalProperties"] is False
        assert "scope." in listed["description"]
    assert tools["log_decision"]["inputSchema"]["required"] == ["decision", "product_name"]
    assert "`decisions:write`" in tools["log_decision"]["description"]
    assert tools["get_product_state"]["annotations"]["readOnlyHint"] is True
    assert tools["end_session"]["annotations"]["readOnlyHint"] is False


# (readOnlyHint, destructiveHint, idempotentHint). destructiveHint false promises "only additive
# updates": a tool that replaces or clears what is stored is destructive.
EXPECTED_HINTS = {
    "get_identity_kernel": (True, False, True),
    "get_product_state": (True, False, True),
    "get_session_handoff": (True, False, True),
    "search_decisions": (True, False, True),
    "check_memory_confidence": (True, False, True),
    "export_memories": (True, False, True),
    "log_decision": (False, False, False),  # adds a decision
    "register_session": (False, False, False),  # adds a session
    "import_memories": (False, False, True),  # adds what is missing, never overwrites (dedupe by id)
    "update_product_state": (False, True, True),  # lists replace, an empty handoff clears it
    "end_session": (False, True, False),  # overwrites last_session_summary and the handoff
}


def test_tool_annotations_tell_additive_tools_from_those_that_overwrite(mcp):
    tools = {t["name"]: t for t in mcp.rpc("tools/list").json()["result"]["tools"]}

    hints = {
        name: tuple(tool["annotations"][hint] for hint in ("readOnlyHint", "destructiveHint", "idempotentHint"))
        for name, tool in tools.items()
    }
    assert hints == EXPECTED_HINTS


def test_ending_a_session_writes_the_summary_and_handoff_and_counts_its_decisions(mcp):
    session = mcp.tool(
        "register_session",
        {"product_name": "Atlas", "agent_name": "claude-code", "label": "auth work", "metadata": {"branch": "x"}},
    )
    mcp.tool("log_decision", {"decision": "Use Postgres row locks for handoffs", "product_name": "atlas"})
    mcp.tool("log_decision", {"decision": "Unrelated", "product_name": "Other"})

    ended = mcp.tool("end_session", {"session_id": session["session_id"], "summary": "  Finished the login flow.  "})

    assert ended["decisions_captured"] == 1
    assert ended["handoff_note"] == "Finished the login flow."
    state = mcp.tool("get_product_state", {"product_name": "ATLAS"})
    assert state["last_session_summary"] == "Finished the login flow."
    assert state["next_session_starts_here"] == "Finished the login flow."
    row = McpSession.objects.get(pk=session["session_id"])
    assert row.summary == "Finished the login flow."
    assert row.ended_by.startswith("api_key:")
    assert row.metadata == {"branch": "x"}


def test_an_explicit_handoff_is_kept_apart_from_the_summary(mcp):
    session = mcp.tool("register_session", {"product_name": "Atlas"})

    ended = mcp.tool(
        "end_session",
        {
            "session_id": session["session_id"],
            "summary": "Shipped v2.",
            "ended_by": "user",
            "next_session_starts_here": "Write the migration guide.",
        },
    )

    assert ended["handoff_note"] == "Write the migration guide."
    handoff = mcp.tool("get_session_handoff", {"product_name": "Atlas"})
    assert handoff["last_session_summary"] == "Shipped v2."
    assert handoff["next_session_starts_here"] == "Write the migration guide."
    assert handoff["last_session"]["session_id"] == session["session_id"]
    assert handoff["last_session"]["ended_by"] == "user"


def test_an_empty_handoff_clears_it_and_a_missing_one_takes_the_summary(mcp):
    mcp.tool("update_product_state", {"product_name": "Atlas", "next_session_starts_here": "Old plan."})
    first = mcp.tool("register_session", {"product_name": "Atlas"})
    second = mcp.tool("register_session", {"product_name": "Atlas"})

    cleared = mcp.tool(
        "end_session", {"session_id": first["session_id"], "summary": "Shipped v2.", "next_session_starts_here": " "}
    )
    state = mcp.tool("get_product_state", {"product_name": "Atlas"})
    defaulted = mcp.tool("end_session", {"session_id": second["session_id"], "summary": "Wrote docs."})

    assert cleared["handoff_note"] == ""
    assert state["next_session_starts_here"] == "" and state["last_session_summary"] == "Shipped v2."
    assert defaulted["handoff_note"] == "Wrote docs."


def test_ending_a_session_twice_is_a_conflict(mcp):
    session = mcp.tool("register_session", {"product_name": "Atlas"})
    mcp.tool("end_session", {"session_id": session["session_id"], "summary": "one"})

    error = mcp.tool_error("end_session", {"session_id": session["session_id"], "summary": "two"})

    assert error["code"] == "CONFLICT"
    assert mcp.tool("get_product_state", {"product_name": "Atlas"})["last_session_summary"] == "one"


def test_another_users_session_is_not_found(mcp, mcp_for, make_user):
    stranger = mcp_for(make_user(tier="pro"))
    theirs = stranger.tool("register_session", {"product_name": "Secret"})

    assert mcp.tool_error("end_session", {"session_id": theirs["session_id"], "summary": "x"})["code"] == "NOT_FOUND"
    assert mcp.tool_error("get_identity_kernel", {"session_id": theirs["session_id"]})["code"] == "NOT_FOUND"
    assert mcp.tool_error("get_product_state", {"product_name": "Secret"})["code"] == "NOT_FOUND"
    assert McpSession.objects.get(pk=theirs["session_id"]).ended_at is None


def test_an_unknown_session_id_is_not_found(mcp):
    error = mcp.tool_error("end_session", {"session_id": str(uuid.uuid4()), "summary": "x"})

    assert error["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        ({}, "product_name", "This field is required."),
        ({"product_name": ""}, "product_name", "May not be empty."),
        ({"product_name": "x" * 101}, "product_name", "At most 100 characters."),
        ({"product_name": 5}, "product_name", "Must be a string."),
        ({"product_name": "A", "colour": "red"}, "colour", "Unknown field."),
        ({"product_name": "A", "metadata": []}, "metadata", "Must be an object."),
        ({"product_name": "A", "session_url": "ftp://example.com/x"}, "session_url", "Must be an http or https URL."),
        ({"product_name": "   "}, "product_name", "A product name may not be blank."),
        ({"product_name": "A", "metadata": {"k": "v" * 17000}}, "metadata", "At most 16384 bytes of JSON."),
    ],
)
def test_bad_arguments_are_a_validation_error_result_naming_the_field(mcp, arguments, field, message):
    fields = mcp.argument_errors("register_session", arguments)

    assert fields[field] == [message]
    assert not McpSession.objects.exists()


@pytest.mark.parametrize(
    ("tool", "arguments", "field"),
    [
        ("register_session", {"product_name": "A", "label": "a\x00b"}, "label"),
        ("register_session", {"product_name": "A", "agent_name": "\x00"}, "agent_name"),
        ("register_session", {"product_name": "A", "metadata": {"notes": ["ok", "a\x00b"]}}, "metadata"),
        ("register_session", {"product_name": "A", "metadata": {"k\x00": 1}}, "metadata"),
        ("end_session", {"summary": "a\x00b"}, "summary"),
        ("end_session", {"summary": "x", "ended_by": "a\x00b"}, "ended_by"),
        ("end_session", {"summary": "x", "next_session_starts_here": "a\x00b"}, "next_session_starts_here"),
        ("get_identity_kernel", {"client_type": "a\x00b"}, "client_type"),
        ("search_decisions", {"query": "a\x00b"}, "query"),
    ],
)
def test_a_nul_character_in_an_argument_is_a_validation_error_naming_it(mcp, tool, arguments, field):
    session = mcp.tool("register_session", {"product_name": "Atlas"})
    if tool in ("end_session", "get_identity_kernel"):
        arguments = {"session_id": session["session_id"], **arguments}

    fields = mcp.argument_errors(tool, arguments)

    assert fields == {field: ["May not contain NUL (U+0000) characters."]}
    row = McpSession.objects.get()
    assert row.ended_at is None and row.client_type == "" and row.kernel_loaded_at is None


def test_an_unknown_tool_and_non_object_arguments_are_invalid_params(mcp):
    assert mcp.rpc_error("no_such_tool")["code"] == -32602
    response = mcp.rpc("tools/call", {"name": "get_product_state", "arguments": ["Atlas"]})
    assert response.json()["error"]["data"]["fields"] == {"arguments": ["Must be an object."]}


def test_refused_arguments_reach_the_model_as_a_result_from_2025_11_25_on(mcp):
    """SEP-1303: the text content carries the same envelope, for clients that read only text."""
    result = mcp.call("log_decision", {"decision": "x", "tags": "a"}).json()["result"]

    assert result["isError"] is True
    envelope = json.loads(result["content"][0]["text"])
    assert envelope == result["structuredContent"]
    assert envelope["error"]["code"] == "VALIDATION_ERROR"
    assert envelope["error"]["details"]["fields"] == {
        "product_name": ["This field is required."],
        "tags": ["Must be an array."],
    }
    assert not Decision.objects.exists()


@pytest.mark.parametrize("version", ["2025-06-18", "2025-03-26"])
def test_refused_arguments_stay_invalid_params_under_earlier_revisions(mcp, version):
    mcp.version = version
    error = mcp.rpc_error("log_decision", {"decision": "x", "tags": "a"})

    assert error["code"] == -32602
    assert error["data"]["fields"] == {"product_name": ["This field is required."], "tags": ["Must be an array."]}
    blank = mcp.rpc_error("log_decision", {"decision": "   ", "product_name": "Atlas"})  # a service's own rule
    assert blank["code"] == -32602 and "decision" in blank["data"]["fields"]
    assert not Decision.objects.exists()


@pytest.mark.parametrize("version", ["2025-11-25", "2025-06-18"])
def test_each_missing_argument_is_named_once(mcp, version):
    # jsonschema reports one `required` error per missing name, each listing the whole array.
    mcp.version = version
    required = ["This field is required."]

    if version == "2025-11-25":
        fields = mcp.argument_errors("log_decision", {})
    else:
        fields = mcp.rpc_error("log_decision", {})["data"]["fields"]

    assert fields == {"decision": required, "product_name": required}


def test_get_identity_kernel_returns_the_block_and_marks_the_session(mcp, base_url):
    put_kernel(
        base_url,
        mcp.token,
        {"identity": {"name": "Ada Lovelace", "role": "Founder"}, "constraints": {"never": ["Deploy on Fridays"]}},
    )
    session = mcp.tool("register_session", {"product_name": "Atlas"})

    kernel = mcp.tool("get_identity_kernel", {"session_id": session["session_id"], "client_type": "claude-code"})

    assert kernel["identity"]["name"] == "Ada Lovelace"
    assert "Ada Lovelace" in kernel["injection_block"]
    assert "- Deploy on Fridays" in kernel["injection_block"]
    assert kernel["injection_tokens"] > 0
    assert kernel["version"] == 1
    assert kernel["scope"] == "personal"
    assert kernel["session"] == {"session_id": session["session_id"], "product_name": "Atlas"}
    row = McpSession.objects.get(pk=session["session_id"])
    assert row.kernel_loaded_at is not None and row.client_type == "claude-code"


def test_get_identity_kernel_of_an_empty_space_is_empty(mcp):
    kernel = mcp.tool("get_identity_kernel")

    assert kernel["version"] == 0 and kernel["injection_block"] == "" and kernel["identity"] is None


def test_get_product_state_of_an_unknown_product_is_a_not_found_tool_error(mcp):
    error = mcp.tool_error("get_product_state", {"product_name": "Ghost"})

    assert error == {"code": "NOT_FOUND", "message": "No product named 'Ghost' in this scope."}


def test_search_decisions_finds_matches_keyword_only_and_follows_affected_products(mcp):
    mcp.tool("log_decision", {"decision": "Billing uses Stripe invoices", "product_name": "Billing"})
    mcp.tool(
        "log_decision",
        {"decision": "Auth tokens expire after one hour", "product_name": "Auth", "affects_products": ["Billing"]},
    )

    found = mcp.tool("search_decisions", {"query": "invoices"})
    related = mcp.tool("search_decisions", {"query": "tokens expire", "product_name": "billing"})

    assert [hit["decision"] for hit in found["results"]] == ["Billing uses Stripe invoices"]
    assert found["semantic"] is False and found["scope"] == "personal"
    assert [(hit["product_name"], hit["match"]) for hit in related["results"]] == [("Auth", "affects")]


def test_search_decisions_reads_a_separator_line_as_punctuation(mcp):
    mcp.tool("log_decision", {"decision": "Cache invalidation for redis", "product_name": "Atlas"})

    found = mcp.tool("search_decisions", {"query": "== Summary ==\n" + "-" * 34 + " redis"})

    assert [hit["decision"] for hit in found["results"]] == ["Cache invalidation for redis"]


def test_search_decisions_honours_limit_and_token_budget(mcp):
    for n in range(3):
        mcp.tool("log_decision", {"decision": f"Cache layer choice number {n}", "product_name": "Atlas"})

    limited = mcp.tool("search_decisions", {"query": "cache layer", "limit": 2})
    budgeted = mcp.tool("search_decisions", {"query": "cache layer", "token_budget": 20})

    assert len(limited["results"]) == 2 and limited["count"] == 3
    assert budgeted["tokens"]["budget"] == 20 and budgeted["tokens"]["used"] <= 20
    assert budgeted["tokens"]["truncated"] is True
    assert mcp.argument_errors("search_decisions", {"query": "x", "limit": 0}) == {"limit": ["At least 1."]}


def test_search_decisions_answers_an_integral_token_budget_as_an_integer_as_rest_does(mcp, base_url):
    mcp.tool("log_decision", {"decision": "Cache layer choice", "product_name": "Atlas"})

    found = mcp.call("search_decisions", {"query": "cache layer", "token_budget": 30.0}).json()["result"]
    on_rest = rest(
        base_url, mcp.token, "GET", "/memory/decisions/search", params={"q": "cache layer", "token_budget": 30}
    )

    assert on_rest.json()["tokens"]["budget"] == 30
    assert '"budget": 30,' in found["content"][0]["text"]
    assert found["structuredContent"]["tokens"] == on_rest.json()["tokens"]


def test_log_decision_applies_the_rest_rules(mcp):
    created = mcp.tool(
        "log_decision",
        {"decision": "Adopt trunk-based development", "product_name": "Atlas", "tags": ["Process", "process"]},
    )

    assert created["tags"] == ["process"]
    assert created["source"] == "mcp"
    assert "decision" in mcp.argument_errors("log_decision", {"decision": "   ", "product_name": "Atlas"})
    comma = mcp.argument_errors("log_decision", {"decision": "x", "product_name": "Atlas", "tags": ["a,b"]})
    assert comma == {"tags[0]": ["A tag may not contain a comma."]}
    missing = mcp.tool_error(
        "log_decision", {"decision": "y", "product_name": "Atlas", "supersedes": str(uuid.uuid4())}
    )
    assert missing["code"] == "NOT_FOUND"


def test_update_product_state_creates_updates_and_checks_the_expected_version(mcp):
    created = mcp.tool("update_product_state", {"product_name": "Atlas", "status": "paused", "what_works": ["Login"]})
    updated = mcp.tool("update_product_state", {"product_name": "atlas", "expected_version": 1, "status": "active"})
    stale = mcp.tool_error(
        "update_product_state", {"product_name": "atlas", "expected_version": 1, "status": "blocked"}
    )

    assert created["created"] is True and created["version"] == 1 and created["what_works"] == ["Login"]
    assert updated["created"] is False and updated["version"] == 2 and updated["status"] == "active"
    assert stale["code"] == "PRECONDITION_FAILED" and stale["details"] == {"current_version": 2}
    assert list(mcp.argument_errors("update_product_state", {"product_name": "Atlas", "status": "done"})) == ["status"]


@pytest.mark.parametrize(
    ("tool", "arguments", "scope"),
    [
        ("log_decision", {"decision": "x", "product_name": "A"}, "decisions:write"),
        ("register_session", {"product_name": "A"}, "memory:write"),
        ("update_product_state", {"product_name": "A"}, "memory:write"),
        ("end_session", {"session_id": str(uuid.uuid4()), "summary": "x"}, "memory:write"),
    ],
)
def test_a_read_key_gets_an_insufficient_scope_error_naming_the_scope(
    mcp_for, person, base_url, tool, arguments, scope
):
    reader = mcp_for(person, "read")

    response = reader.call(tool, arguments)

    assert response.status_code == 403
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and f'scope="{scope}"' in challenge
    assert f'resource_metadata="{base_url}/.well-known/oauth-protected-resource/mcp"' in challenge
    error = response.json()["error"]
    assert error["code"] == -32031
    assert error["data"]["required_scopes"] == [scope]


def test_a_read_key_may_call_every_read_tool(mcp_for, person):
    reader = mcp_for(person, "read")

    assert reader.tool("get_identity_kernel")["version"] == 0
    assert reader.tool("search_decisions", {"query": "anything"})["count"] == 0


def test_the_scope_header_selects_a_workspace_and_viewers_cannot_write(make_user, mcp_for):
    owner = make_user(tier="team")
    viewer = make_user(tier="pro")
    workspace = workspace_create(owner=owner, name="Studio", kind="team")
    member_put(actor_membership=Membership.objects.get(space=workspace, user=owner), user=viewer, role="viewer")
    header = {"X-Synchronex-Scope": str(workspace.id)}
    owners = mcp_for(owner)

    shared = owners.tool("register_session", {"product_name": "Shared"}, headers=header)
    personal = owners.tool("update_product_state", {"product_name": "Mine"})

    assert shared["scope"] == "team" and personal["scope"] == "personal"
    assert owners.tool_error("get_product_state", {"product_name": "Shared"})["code"] == "NOT_FOUND"
    viewers = mcp_for(viewer)
    assert viewers.tool("get_product_state", {"product_name": "Shared"}, headers=header)["scope"] == "team"
    refused = viewers.tool_error("update_product_state", {"product_name": "Shared"}, headers=header)
    assert refused["code"] == "FORBIDDEN"
    unknown = owners.tool_error(
        "get_product_state", {"product_name": "Shared"}, headers={"X-Synchronex-Scope": str(uuid.uuid4())}
    )
    assert unknown["code"] == "NOT_FOUND"


def test_results_carry_text_always_and_structured_content_from_2025_06_18(mcp, base_url):
    legacy = Mcp(base_url, mcp.token, version="2025-03-26")

    old = legacy.call("get_identity_kernel").json()["result"]
    new = mcp.call("get_identity_kernel").json()["result"]

    assert "structuredContent" not in old
    assert json.loads(old["content"][0]["text"]) == new["structuredContent"]
    assert new["content"][0]["type"] == "text"


# --- the same rules as the REST twins (lengths in NFC after trimming, NFC text, field names) -------


def rest(base_url: str, token: str, method: str, path: str, **kwargs) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{base_url}/api/v1{path}", headers=headers, timeout=30, **kwargs)


def test_length_limits_count_nfc_characters_after_trimming_as_on_rest(mcp, base_url):
    name = "e\u0301" * 60  # 120 code points: a 60-character name in NFC
    arguments = {
        "decision": "e\u0301" * 1050,  # 2,100 code points, 1,050 characters in NFC (limit 2,000)
        "product_name": name,
        "tags": ["t" * 50 + " "],
        "alternatives": ["a\u0301" * 1500],
    }

    assert rest(base_url, mcp.token, "POST", "/memory/decisions", json=arguments).status_code == 201
    logged = mcp.tool("log_decision", arguments)
    state = mcp.tool("update_product_state", {"product_name": "N" * 100 + " ", "what_works": ["w" * 500 + "\n"]})
    read = mcp.tool("get_product_state", {"product_name": name})
    found = mcp.tool("search_decisions", {"query": "e\u0301" * 300, "product_name": name})  # 600 → 300 (≤ 500)

    assert logged["product_name"] == "\u00e9" * 60 and len(logged["decision"]) == 1050
    assert logged["tags"] == ["t" * 50]
    assert state["name"] == "N" * 100 and state["what_works"] == ["w" * 500]
    assert read["name"] == "\u00e9" * 60
    assert isinstance(found["results"], list)  # accepted (REST takes a 600-code-point q of 300 characters)
    # Over the limit once normalised: refused, as on REST (U+0958 is two code points in NFC).
    assert "product_name" in mcp.argument_errors("get_product_state", {"product_name": "\u0958" * 100})
    huge = {"decision": "x", "product_name": "e\u0301" * 100_000}  # ~700 KB as JSON: refused unnormalised
    assert mcp.argument_errors("log_decision", huge) == {"product_name": ["At most 100 characters."]}


def test_a_product_name_counts_its_length_trimmed_as_product_names_are(mcp, base_url):
    # A BOM and a zero-width space at the ends are trimmed from a name (REST stores "N" * 100).
    name = "\ufeff" + "N" * 100 + "\u200b"
    assert rest(base_url, mcp.token, "POST", f"/memory/product/{name}/state", json={}).status_code == 201
    assert mcp.tool("get_product_state", {"product_name": name})["name"] == "N" * 100
    logged = mcp.tool("log_decision", {"decision": "d", "product_name": name, "affects_products": [name]})
    assert logged["product_name"] == "N" * 100 and logged["affects_products"] == ["N" * 100]
    assert "product_name" in mcp.argument_errors("get_product_state", {"product_name": "\ufeff" + "N" * 101})


def test_a_name_padded_past_four_times_its_limit_with_invisible_characters_is_counted_as_on_rest(mcp, base_url):
    # 520 code points, over 4 × 100 as sent; trimmed (the zero-width spaces) and in NFC, the name
    # "é" * 60 that REST stores. Whether to normalise is decided on that same trim.
    name = "\u200b" * 400 + "e\u0301" * 60
    decision = {"decision": "d", "product_name": name}
    assert rest(base_url, mcp.token, "POST", f"/memory/product/{name}/state", json={"status": "paused"}).ok
    assert rest(base_url, mcp.token, "POST", "/memory/decisions", json=decision).status_code == 201

    state = mcp.tool("update_product_state", {"product_name": name, "status": "paused"})
    read = mcp.tool("get_product_state", {"product_name": name})
    logged = mcp.tool("log_decision", {**decision, "affects_products": [name]})

    assert state["name"] == read["name"] == logged["product_name"] == "\u00e9" * 60
    assert logged["affects_products"] == ["\u00e9" * 60]


def test_session_text_arguments_are_stored_nfc(mcp):
    session = mcp.tool(
        "register_session", {"product_name": "Cmp", "agent_name": "agente\u0301", "label": " cafe\u0301 "}
    )
    mcp.tool("get_identity_kernel", {"session_id": session["session_id"], "client_type": "clie\u0301nt"})
    mcp.tool("end_session", {"session_id": session["session_id"], "summary": "Done", "ended_by": "bo\u0301b"})

    row = McpSession.objects.get()
    assert (row.agent_name, row.label, row.client_type, row.ended_by) == (
        "agent\u00e9",
        "caf\u00e9",
        "cli\u00e9nt",
        "b\u00f3b",
    )
    last = mcp.tool("get_session_handoff", {"product_name": "Cmp"})["last_session"]
    assert (last["agent_name"], last["ended_by"]) == ("agent\u00e9", "b\u00f3b")


def test_list_item_errors_are_named_like_rest_whichever_rule_refuses_them(mcp):
    decision = {"decision": "x", "product_name": "Atlas"}

    blank = mcp.argument_errors("log_decision", {**decision, "tags": ["ok", "  "]})
    long = mcp.argument_errors("log_decision", {**decision, "tags": ["ok", "t" * 51]})
    item = mcp.argument_errors("update_product_state", {"product_name": "Atlas", "what_works": ["ok", "w" * 501]})

    assert list(blank) == ["tags[1]"]
    assert long == {"tags[1]": ["At most 50 characters."]}
    assert item == {"what_works[1]": ["At most 500 characters."]}


def test_log_decision_takes_supersedes_as_the_rest_field_does(mcp):
    spellings = [lambda u: u.hex, lambda u: "{" + str(u) + "}", lambda u: u.urn, lambda u: str(u).upper()]
    for n, spell in enumerate(spellings):
        old = mcp.tool("log_decision", {"decision": f"Old {n}", "product_name": "Atlas"})
        new = mcp.tool(
            "log_decision",
            {"decision": f"New {n}", "product_name": "Atlas", "supersedes": spell(uuid.UUID(old["id"]))},
        )
        assert new["supersedes"] == old["id"]

    assert (
        mcp.tool("log_decision", {"decision": "Fresh", "product_name": "Atlas", "supersedes": None})["supersedes"]
        is None
    )
    bad = mcp.argument_errors("log_decision", {"decision": "y", "product_name": "Atlas", "supersedes": "nope"})
    assert bad == {"supersedes": ["Must be a valid UUID."]}


def test_expected_version_refusals_name_the_argument_not_a_header(mcp, base_url):
    missing = mcp.tool_error("update_product_state", {"product_name": "Atlas", "expected_version": 1})
    mcp.tool("update_product_state", {"product_name": "Atlas"})
    stale = mcp.tool_error("update_product_state", {"product_name": "Atlas", "expected_version": 5})
    over_rest = rest(base_url, mcp.token, "POST", "/memory/product/Atlas/state", json={}, headers={"If-Match": '"5"'})

    assert missing["code"] == stale["code"] == "PRECONDITION_FAILED"
    assert missing["message"] == "expected_version was sent but the product does not exist yet."
    assert stale["message"] == "The product is at version 1; your expected_version does not match."
    assert over_rest.status_code == 412
    assert over_rest.json()["error"]["message"] == "The product is at version 1; your If-Match does not match."


def test_a_logged_decision_replacing_another_products_decision_is_found_for_that_product(mcp):
    old = mcp.tool("log_decision", {"decision": "Use Stripe for EU card payments", "product_name": "Checkout"})
    new = mcp.tool(
        "log_decision",
        {"decision": "Move all card payments to Adyen", "product_name": "Platform", "supersedes": old["id"]},
    )
    assert new["affects_products"] == ["Checkout"]
    found = mcp.tool("search_decisions", {"query": "card payments", "product_name": "Checkout"})
    assert [hit["id"] for hit in found["results"]] == [new["id"]]
