"""Every MCP tool answer goes into a model's prompt: the scope's BYOK keys, wherever a user pasted
one, come back as ``[REDACTED:api_key]`` (the exports' Scrubber), never in plain text."""

from __future__ import annotations

import hashlib
import re

import pytest
import rfc8785

from apps.byok.services import byok_credential_create
from apps.byok.tests.helpers import fresh_key
from apps.decisions.selectors import decision_render_text
from apps.decisions.services import decision_create
from apps.mcp.tests.test_tools import put_kernel
from apps.scopes.models import Membership, Role
from apps.scopes.services import member_put, space_ensure_personal, workspace_create
from synchronex.api.tokens import count_tokens

pytestmark = pytest.mark.django_db(transaction=True)

REDACTED = "[REDACTED:api_key]"


def answer_text(mcp, name: str, arguments: dict | None = None, **kwargs) -> tuple[dict, str]:
    """The structured result and the whole JSON-RPC answer as text (both must be clean)."""
    response = mcp.call(name, arguments, **kwargs)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert result["isError"] is False, result
    return result["structuredContent"], response.text


@pytest.fixture
def secret(person) -> str:
    key = fresh_key("openai")
    byok_credential_create(space=space_ensure_personal(user=person), service="openai", label="main", key=key)
    return key


@pytest.fixture
def pasted(mcp, base_url, secret) -> str:
    """The key pasted into the kernel, a product's state and a decision."""
    put_kernel(
        base_url,
        mcp.token,
        {
            "identity": {"name": "Ada"},
            "constraints": {"always": [f"Bill {secret}"]},
            "model_preferences": {"routing": {"code": f"gpt-5 via {secret}"}},
            "products": [{"name": "Atlas", "summary": f"Runs on {secret}"}],
        },
    )
    mcp.tool(
        "update_product_state",
        {
            "product_name": "Atlas",
            "what_works": [f"Embeddings on {secret}"],
            "what_is_blocked": [f"Quota of {secret}"],
            "open_questions": [f"Rotate {secret}?"],
            "next_session_starts_here": f"Revoke {secret}",
        },
    )
    mcp.tool("log_decision", {"decision": "Bill the project key", "product_name": "Atlas", "reasoning": secret})
    return secret


def test_get_identity_kernel_redacts_fields_and_block(mcp, pasted):
    kernel, text = answer_text(mcp, "get_identity_kernel")

    assert pasted not in text
    assert kernel["constraints"]["always"] == [f"Bill {REDACTED}"]
    assert kernel["model_preferences"]["routing"] == {"code": f"gpt-5 via {REDACTED}"}
    assert kernel["products"][0]["summary"] == f"Runs on {REDACTED}"
    block = kernel["injection_block"]
    assert f"- Bill {REDACTED}" in block and block.count(REDACTED) == 3
    assert kernel["injection_tokens"] == count_tokens(block)  # the block as sent, not as stored


def test_get_session_handoff_redacts_the_state_and_decisions(mcp, pasted):
    handoff, text = answer_text(mcp, "get_session_handoff", {"product_name": "Atlas"})

    assert pasted not in text
    assert handoff["next_session_starts_here"] == f"Revoke {REDACTED}"
    assert handoff["what_is_blocked"] == [f"Quota of {REDACTED}"]
    assert handoff["recent_decisions"][0]["reasoning"] == REDACTED


def test_get_product_state_redacts_the_state_and_decisions(mcp, pasted):
    state, text = answer_text(mcp, "get_product_state", {"product_name": "Atlas"})

    assert pasted not in text
    assert state["what_works"] == [f"Embeddings on {REDACTED}"]
    assert state["open_questions"] == [f"Rotate {REDACTED}?"]
    assert state["recent_decisions"][0]["reasoning"] == REDACTED


def test_search_decisions_redacts_what_it_finds(mcp, pasted):
    found, text = answer_text(mcp, "search_decisions", {"query": "project key"})

    assert found["count"] == 1 and pasted not in text
    assert found["results"][0]["reasoning"] == REDACTED


def test_search_decisions_fits_the_token_budget_as_redacted(mcp, person):
    # The marker is longer, in tokens, than the key it replaces (as long as the marker: a shorter
    # key gives "[SECRET]"): counting the stored text would let the answer, as sent, run over the budget.
    key = "a" * len(REDACTED)
    space = space_ensure_personal(user=person)
    byok_credential_create(
        space=space, service="openai_compatible", label="lab", key=key, base_url="http://localhost:8081/v1"
    )
    stored = decision_create(space=space, decision="Rotate " + key * 40, product_name="Atlas")
    sent = count_tokens(decision_render_text(stored).replace(key, REDACTED))
    assert count_tokens(decision_render_text(stored)) < sent

    short, _ = answer_text(mcp, "search_decisions", {"query": "rotate", "token_budget": sent - 1})
    whole, _ = answer_text(mcp, "search_decisions", {"query": "rotate", "token_budget": sent})

    assert short["results"] == [] and short["tokens"] == {"budget": sent - 1, "used": 0, "truncated": True}
    assert whole["results"][0]["decision"] == "Rotate " + REDACTED * 40
    assert whole["tokens"] == {"budget": sent, "used": sent, "truncated": False}


def test_export_memories_redacts_a_key_the_kernel_rendering_escapes(mcp, base_url, person):
    # A bold product name escapes "*", "`" and "\": the kernel memory is rendered from redacted data.
    key = "Zq*9x`K\\7Lm"
    byok_credential_create(
        space=space_ensure_personal(user=person),
        service="openai_compatible",
        label="star",
        key=key,
        base_url="http://localhost:8081/v1",
    )
    put_kernel(base_url, mcp.token, {"products": [{"name": key, "status": "active", "summary": "the product"}]})

    exported, text = answer_text(mcp, "export_memories", {"types": ["identity"]})
    written, written_text = answer_text(mcp, "export_memories", {"format": "markdown"})

    assert "9x" not in text + written_text
    # Shorter than REDACTED: "[SECRET]", so that the text does not grow.
    # The name held a key: redacted, with its own suffix (``product_name_redacted``).
    assert re.fullmatch(
        r"## Products\n- \*\*\[SECRET\] \([0-9a-f]{8}\)\*\* \(active\): the product",
        exported["document"]["memories"][0]["content"],
    )
    assert exported["document"]["export_meta"]["privacy"]["redacted_fields"] == ["api_key"]
    assert _checksum_holds(exported["document"])
    assert re.search(r"- \*\*\[SECRET\] \([0-9a-f]{8}\)\*\* \(active\): the product", written["content"])


def test_export_memories_answers_when_a_key_spells_json_syntax(mcp, person):
    # Keys are redacted in the values, never in the serialised document, which such a key broke.
    space = space_ensure_personal(user=person)
    key = '"memory_type":"'
    byok_credential_create(
        space=space, service="openai_compatible", label="odd", key=key, base_url="http://localhost:8081/v1"
    )
    decision_create(space=space, decision="Use Postgres", product_name="Atlas")

    exported, _ = answer_text(mcp, "export_memories", {})

    assert [m["memory_type"] for m in exported["document"]["memories"]] == ["context", "decision"]
    assert _checksum_holds(exported["document"])


def test_a_key_is_redacted_in_any_letter_case_as_a_tag_stores_it_lowercased(mcp, base_url, client_for, person, secret):
    # A tag is stored lowercased: that copy of the key, in every reader that hands text to an AI.
    assert secret.lower() != secret
    put_kernel(base_url, mcp.token, {"constraints": {"always": [f"Bill {secret.upper()}"]}})
    tagged = {"decision": "Rotate monthly", "product_name": "Atlas", "tags": [secret], "reasoning": f"see {secret}"}
    rest = client_for(person, "read")

    logged, logged_text = answer_text(mcp, "log_decision", tagged)
    state, state_text = answer_text(mcp, "get_product_state", {"product_name": "Atlas"})
    found, found_text = answer_text(mcp, "search_decisions", {"query": "rotate monthly"})
    kernel, kernel_text = answer_text(mcp, "get_identity_kernel")
    exported, exported_text = answer_text(mcp, "export_memories", {"types": ["decision"]})
    written, written_text = answer_text(mcp, "export_memories", {"format": "markdown"})
    kernel_export = rest.get("/api/v1/kernel/export", params={"product": "Atlas", "query": "rotate"})
    mif = rest.get("/api/v1/memory/export-mif", params={"types": "decision"})
    markdown = rest.get("/api/v1/memory/export-mif", params={"format": "markdown"})
    identity = rest.get("/api/v1/memory/identity")

    texts = [logged_text, state_text, found_text, kernel_text, exported_text, written_text]
    texts += [kernel_export.text, mif.text, markdown.text, identity.json()["injection_block"]]
    assert all(secret.lower() not in text.lower() for text in texts)
    assert logged["tags"] == state["recent_decisions"][0]["tags"] == found["results"][0]["tags"] == [REDACTED]
    assert f"- Bill {REDACTED}" in kernel["injection_block"]
    assert f"Tags: {REDACTED}" in kernel_export.text
    for document in (exported["document"], mif.json()):
        # An export writes a tag as a tag is stored (lowercased), so that it imports as written.
        assert document["memories"][0]["tags"] == [REDACTED.lower()]
        assert document["export_meta"]["privacy"]["redacted_fields"] == ["api_key"]
        assert _checksum_holds(document)


def test_check_memory_confidence_compares_with_the_memory_the_model_was_given(mcp, pasted):
    block = mcp.tool("get_identity_kernel")["injection_block"]

    held, _ = answer_text(mcp, "check_memory_confidence", {"context_block": block})
    empty, text = answer_text(mcp, "check_memory_confidence", {"context_block": "Notes", "product_name": "Atlas"})

    # The redacted block the model holds is what memory says, not a stale copy of it.
    assert held["fresh"] is True, held
    # What memory has and the block lacks is quoted redacted.
    assert pasted not in text and REDACTED in text


def test_write_tools_answer_redacted_too(mcp, pasted):
    updated, updated_text = answer_text(mcp, "update_product_state", {"product_name": "Atlas", "status": "paused"})
    logged, logged_text = answer_text(
        mcp, "log_decision", {"decision": f"Keep {pasted} for CI", "product_name": "Atlas"}
    )
    session = mcp.tool("register_session", {"product_name": "Atlas"})
    ended, ended_text = answer_text(mcp, "end_session", {"session_id": session["session_id"], "summary": pasted})

    assert pasted not in updated_text + logged_text + ended_text
    assert updated["next_session_starts_here"] == f"Revoke {REDACTED}"
    assert logged["decision"] == f"Keep {REDACTED} for CI"
    assert ended["handoff_note"] == REDACTED


def test_in_a_workspace_the_callers_personal_keys_are_redacted_from_their_personal_layer(mcp, base_url, secret, person):
    person.tier = "team"
    person.save()
    workspace = workspace_create(owner=person, name="Studio", kind="team")
    put_kernel(base_url, mcp.token, {"constraints": {"never": [f"Share {secret}"]}})

    kernel, text = answer_text(mcp, "get_identity_kernel", headers={"X-Synchronex-Scope": str(workspace.id)})

    assert kernel["scope"] == "team" and secret not in text
    assert kernel["constraints"]["never"] == [f"Share {REDACTED}"]
    assert f"- Share {REDACTED}" in kernel["injection_block"]


def _checksum_holds(document: dict) -> bool:
    # README's recipe: SHA-256 of the memories array canonicalised per RFC 8785 (JCS).
    return (
        document["export_meta"]["checksum"]
        == "sha256:" + hashlib.sha256(rfc8785.dumps(document["memories"])).hexdigest()
    )


def test_a_workspace_export_redacts_the_callers_personal_key_alike_on_rest_and_mcp(mcp, client_for, secret, person):
    person.tier = "team"
    person.save()
    workspace = workspace_create(owner=person, name="Studio", kind="team")
    decision_create(space=workspace, decision="Bill the team", product_name="Atlas", reasoning=f"Use {secret}")
    scope = {"X-Synchronex-Scope": str(workspace.id)}
    rest = client_for(person, "read")

    response = rest.get("/api/v1/memory/export-mif", params={"types": "decision"}, headers=scope)
    exported, text = answer_text(mcp, "export_memories", {"types": ["decision"]}, headers=scope)
    markdown = rest.get("/api/v1/memory/export-mif", params={"format": "markdown"}, headers=scope).text
    written, _ = answer_text(mcp, "export_memories", {"format": "markdown"}, headers=scope)

    assert response.status_code == 200, response.text
    for document, raw in ((response.json(), response.text), (exported["document"], text)):
        assert secret not in raw
        assert document["memories"][0]["metadata"]["reasoning"] == f"Use {REDACTED}"
        assert document["export_meta"]["privacy"]["redacted_fields"] == ["api_key"]
        assert _checksum_holds(document)
    assert secret not in markdown + written["content"] and REDACTED in markdown


def test_in_a_workspace_a_members_personal_key_is_redacted_for_every_member(make_user, client_for, mcp_for):
    """A member pastes their own personal key into the workspace (kernel and a decision): every
    prompt-bound output of the workspace redacts it, whoever reads it — the owner and a viewer as
    much as the member (the admin does the same, synchronex/admin_redaction.py)."""
    owner, member, viewer = (make_user(tier="team") for _ in range(3))
    workspace = workspace_create(owner=owner, name="Studio", kind="team")
    owner_membership = Membership.objects.get(space=workspace, user=owner)
    member_put(actor_membership=owner_membership, user=member, role=Role.MEMBER)
    member_put(actor_membership=owner_membership, user=viewer, role=Role.VIEWER)
    secret = fresh_key("openai")
    byok_credential_create(space=space_ensure_personal(user=member), service="openai", label="mine", key=secret)
    scope = {"X-Synchronex-Scope": str(workspace.id)}
    writer = client_for(member)
    rule = {"constraints": {"always": [f"Use key {secret} for evals"]}}
    assert writer.put("/api/v1/memory/identity", json=rule, headers={**scope, "If-Match": '"0"'}).status_code == 200
    body = {"decision": "Bill the evals", "product_name": "Atlas", "reasoning": f"Use {secret}"}
    assert writer.post("/api/v1/memory/decisions", json=body, headers=scope).status_code == 201

    for user in (owner, viewer, member):
        rest, mcp = client_for(user, "read"), mcp_for(user, "read")
        identity = rest.get("/api/v1/memory/identity", headers=scope).json()
        assert f"- Use key {REDACTED} for evals" in identity["injection_block"]
        kernel = rest.get("/api/v1/kernel/export", params={"product": "Atlas", "query": "evals"}, headers=scope)
        assert kernel.status_code == 200 and f"Use key {REDACTED} for evals" in kernel.text
        assert f"Why: Use {REDACTED}" in kernel.text
        mif = rest.get("/api/v1/memory/export-mif", headers=scope)
        assert mif.json()["export_meta"]["privacy"]["redacted_fields"] == ["api_key"] and _checksum_holds(mif.json())
        markdown = rest.get("/api/v1/memory/export-mif", params={"format": "markdown"}, headers=scope).text
        _, tool_kernel = answer_text(mcp, "get_identity_kernel", headers=scope)
        _, tool_search = answer_text(mcp, "search_decisions", {"query": "evals"}, headers=scope)
        _, tool_export = answer_text(mcp, "export_memories", {"format": "markdown"}, headers=scope)
        for text in (kernel.text, mif.text, markdown, tool_kernel, tool_search, tool_export):
            assert secret not in text and REDACTED in text, (user.email, text)


def test_tool_errors_that_quote_the_arguments_are_redacted_too(mcp, secret):
    # A refusal goes into the prompt as much as an answer does, and some quote what they refuse.
    response = mcp.call("get_product_state", {"product_name": f"Atlas {secret}"})

    result = response.json()["result"]
    assert result["isError"] is True, result
    assert REDACTED in response.text and secret not in response.text


def _add_key(person, key: str) -> None:
    space = space_ensure_personal(user=person)
    byok_credential_create(
        space=space, service="openai_compatible", label="odd", key=key, base_url="http://localhost:8081/v1"
    )


@pytest.mark.parametrize(
    "spelled",
    ["recent_decisions", "handoff_note", "archived", "an id", "a date", "Europe/London"],
)
def test_a_key_spelling_part_of_an_answers_structure_leaves_the_answer_as_it_is(mcp, base_url, person, spelled):
    # A key may be any 8 visible characters: one spelling a field name, an enum value, part of an
    # id or a timestamp, or a checked time zone rewrote them in every answer. Only users' text is
    # redacted.
    put_kernel(base_url, mcp.token, {"identity": {"name": "Ada", "timezone": "Europe/London"}})
    mcp.tool("update_product_state", {"product_name": "Atlas", "status": "archived", "what_works": ["Search"]})
    logged = mcp.tool("log_decision", {"decision": "Use Postgres", "product_name": "Atlas"})
    session = mcp.tool("register_session", {"product_name": "Atlas"})
    key = {"an id": logged["id"][:8], "a date": logged["created_at"][:10]}.get(spelled, spelled)
    _add_key(person, key)
    pasted = mcp.tool("log_decision", {"decision": f"Rotate {key} monthly", "product_name": "Atlas"})

    state = mcp.tool("get_product_state", {"product_name": "Atlas"})
    handoff = mcp.tool("get_session_handoff", {"product_name": "Atlas"})
    found = mcp.tool("search_decisions", {"query": "postgres"})
    kernel = mcp.tool("get_identity_kernel")
    ended = mcp.tool("end_session", {"session_id": session["session_id"], "summary": "Done"})

    assert pasted["decision"] == "Rotate [SECRET] monthly"  # users' text is still redacted
    for answer in (state, handoff):
        assert answer["status"] == "archived", answer
        (first,) = [d for d in answer["recent_decisions"] if d["decision"] == "Use Postgres"]
        assert (first["id"], first["created_at"]) == (logged["id"], logged["created_at"])
    assert (found["results"][0]["id"], found["results"][0]["decided_at"]) == (logged["id"], logged["decided_at"])
    assert kernel["identity"]["timezone"] == "Europe/London"
    assert set(ended) == {"session_id", "decisions_captured", "handoff_note", "ended_at", "scope"}
    assert ended["session_id"] == session["session_id"]


def test_a_key_spelling_an_error_code_leaves_the_refusal_as_it_is(mcp, person):
    _add_key(person, "NOT_FOUND")

    error = mcp.tool_error("get_product_state", {"product_name": "Nowhere"})

    assert error["code"] == "NOT_FOUND"
