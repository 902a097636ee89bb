"""``check_memory_confidence``: the algorithm on its own, then the tool over HTTP."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime

import pytest
import requests

from apps.identity.renderer import render_block
from apps.mcp.confidence import MemorySnapshot, ProductFacts, SupersededDecision, assess, read_block
from apps.mcp.tests.conftest import Mcp
from apps.oauth.tests.helpers import obtain_tokens

KERNEL = {
    "identity": {"name": "Ada Lovelace", "role": "Founder"},
    "products": None,
    "constraints": {"never": ["Deploy on Fridays or weekends"], "always": ["Write tests first"]},
    "model_preferences": None,
}
MAY_1 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
MAY_2 = datetime(2026, 5, 2, 10, 0, tzinfo=UTC)


def snapshot(kernel: dict = KERNEL, **overrides) -> MemorySnapshot:
    constraints = kernel.get("constraints") or {}
    values = {
        "kernel_block": render_block(kernel).text,
        "never": constraints.get("never") or [],
        "always": constraints.get("always") or [],
        "kernel_version": 3,
        "kernel_updated_at": MAY_1,
        "product": None,
        "superseded": [],
    }
    values.update(overrides)
    return MemorySnapshot(**values)


def product(**overrides) -> ProductFacts:
    values = {
        "name": "Atlas",
        "status": "active",
        "what_works": ["Login"],
        "what_is_blocked": ["CI is red"],
        "open_questions": [],
        "next_session_starts_here": "Fix CI.",
        "last_session_summary": "",
        "version": 4,
        "updated_at": MAY_1,
    }
    values.update(overrides)
    return ProductFacts(**values)


def test_the_current_block_is_fresh_with_full_confidence():
    memory = snapshot()

    report = assess(memory.kernel_block, memory)

    assert report["fresh"] is True
    assert report["confidence"] == 1.0 and report["level"] == "high"
    assert report["counts"]["confirmed"] == 3  # identity line and both constraints


def test_a_constraint_edited_since_is_a_changed_line_not_an_omission():
    block = "## Identity\nAda Lovelace · Founder\n\n## Never\n- Deploy on Fridays\n\n## Always\n- Write tests first"

    report = assess(block, snapshot())

    assert report["stale_facts"] == [
        {
            "source": "kernel",
            "section": "never",
            "reason": "changed",
            "block_line": "- Deploy on Fridays",
            "current": "Deploy on Fridays or weekends",
        }
    ]
    assert report["constraints"]["omitted"] == []
    assert report["confidence"] == round(2 / 3, 3) and report["level"] == "medium"


def test_a_line_memory_no_longer_has_is_removed_and_a_new_fact_is_missing():
    block = "## Identity\nAda Lovelace · Founder\n## Always\n- Write tests first\n- Pair on every release\n"
    memory = snapshot()

    report = assess(block, memory)

    assert {(f["reason"], f["block_line"]) for f in report["stale_facts"]} == {("removed", "- Pair on every release")}
    assert report["constraints"]["omitted"] == [{"kind": "never", "constraint": "Deploy on Fridays or weekends"}]
    assert report["missing_facts"] == []


def test_a_block_that_turns_a_constraint_around_contradicts_it():
    block = "Always:\n- Deploy on Fridays or weekends\nNever:\n- write tests first"

    report = assess(block, snapshot())

    contradicted = report["constraints"]["contradicted"]
    assert {c["kind"] for c in contradicted} == {"never", "always"}
    assert report["level"] == "low"
    assert report["stale_facts"] == []  # the witnesses are not judged twice


def test_missing_facts_are_what_memory_says_and_the_block_lacks():
    report = assess("## Never\n- Deploy on Fridays or weekends", snapshot())

    assert report["missing_facts"] == [{"section": "identity", "current": "Ada Lovelace · Founder"}]
    assert report["constraints"]["omitted"] == [{"kind": "always", "constraint": "Write tests first"}]


def test_markers_flag_an_older_kernel_version_and_changes_after_the_as_of_date():
    memory = snapshot(kernel_updated_at=MAY_2)
    block = memory.kernel_block + "\n\nkernel_version: 2\ngenerated_at: 2026-05-01T12:00:00Z"

    report = assess(block, memory)

    reasons = {f["reason"]: f for f in report["stale_facts"]}
    assert reasons["kernel_version"]["current"] == "kernel version 3"
    assert reasons["changed_since"]["current"] == "2026-05-02T10:00:00Z"
    assert report["as_of"] == "2026-05-01T12:00:00Z" and report["claimed_kernel_version"] == 2


def test_markers_are_read_in_ascii_digits_only():
    # Other scripts' digits are no version or date: "٢" is not read as version 2.
    memory = snapshot(kernel_updated_at=MAY_2)
    block = memory.kernel_block + "\n\nkernel_version: ٢\ngenerated_at: ٢٠٢٦-٠٥-٠١"

    report = assess(block, memory)

    assert report["as_of"] is None and report["claimed_kernel_version"] is None


def test_a_date_without_time_covers_the_whole_day():
    memory = snapshot(kernel_updated_at=MAY_1)

    same_day = assess(memory.kernel_block + "\nUpdated: 2026-05-01", memory)
    day_before = assess(memory.kernel_block + "\nUpdated: 2026-04-30", memory)

    assert same_day["fresh"] is True
    assert [f["reason"] for f in day_before["stale_facts"]] == ["changed_since"]


def test_product_state_lines_are_judged_under_their_headings():
    memory = snapshot(product=product(updated_at=MAY_2))
    block = (
        memory.kernel_block
        + "\n\n# Product: Atlas\n\nStatus: paused (updated 2026-05-01)\n\n## What works\n- Login\n\n"
        "## What is blocked\n- Payments are down\n\n## Next session starts here\nFix CI.\n\n## My notes\n- anything"
    )

    report = assess(block, memory)

    stale = {(f["section"], f["reason"]) for f in report["stale_facts"]}
    assert stale == {("status", "changed"), ("what_is_blocked", "removed"), (None, "changed_since")}
    assert report["missing_facts"] == [{"section": "what_is_blocked", "current": "CI is red"}]


def test_superseded_decisions_mentioned_in_the_block_are_reported():
    old = SupersededDecision("5d3c2a9e-0000-4000-8000-000000000001", "Use MySQL", "Atlas", "b" * 8, "Use Postgres")
    by_id = SupersededDecision("5d3c2a9e-0000-4000-8000-000000000002", "Host on Heroku", "Atlas", "c", "Fly.io")
    other = SupersededDecision("5d3c2a9e-0000-4000-8000-000000000003", "Use Redux", "Atlas", "d", "Use signals")
    memory = snapshot(superseded=[old, by_id, other])
    block = memory.kernel_block + "\n\n# Decisions\n- use mysql.\n- see 5D3C2A9E-0000-4000-8000-000000000002"

    report = assess(block, memory)

    assert [d["id"] for d in report["superseded_decisions"]] == [old.id, by_id.id]
    assert report["superseded_decisions"][0]["superseded_by"] == {"id": "bbbbbbbb", "decision": "Use Postgres"}
    assert report["level"] == "low" and report["decisions_checked"] is True
    knows = assess(block + "\n- Then: use postgres", memory)
    assert [d["id"] for d in knows["superseded_decisions"]] == [by_id.id]  # it names MySQL's successor


def test_without_decision_access_decisions_are_not_checked():
    memory = snapshot(superseded=None)

    assert assess("Use MySQL", memory)["decisions_checked"] is False


def test_reading_the_text_format_and_underlined_headings():
    facts = read_block("Identity kernel\n===============\n\nNever:\n- Deploy on Fridays\n\nStatus: blocked")

    assert [(f.section, f.norm) for f in facts] == [("never", "deploy on fridays"), ("status", "status: blocked")]


def test_the_score_weighs_contradictions_and_superseded_decisions_heavier():
    memory = snapshot(kernel={**KERNEL, "constraints": {"never": ["Push to main"], "always": []}})
    block = "## Identity\nAda Lovelace · Founder\n## Always\n- push to main"

    report = assess(block, memory)

    assert report["counts"] == {
        "confirmed": 1,
        "stale": 0,
        "missing": 0,
        "omitted": 0,
        "contradicted": 1,
        "superseded": 0,
    }
    assert report["confidence"] == round(1 / (1 + 3), 3)


def _timed(block: str, memory: MemorySnapshot) -> tuple[dict, float]:
    started = time.process_time()
    report = assess(block, memory)
    return report, time.process_time() - started


def _sentences(count: int, length: int) -> list[str]:
    """Distinct texts of one small vocabulary: every pair looks alike to difflib's quick bounds."""
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "theta", "iota", "kappa", "lambda", "sigma", "omega"]
    rng = random.Random(7)
    texts = []
    for _ in range(count):
        text = ""
        while len(text) < length:
            text += rng.choice(words) + " "
        texts.append(text[:length].strip())
    return texts


NOTHING_SKIPPED = {"block_lines": 0, "constraints": 0, "superseded_decisions": 0}


def test_a_block_editing_every_item_of_a_full_product_state_is_judged_in_full_and_fast():
    items = _sentences(100, 490)
    memory = snapshot(product=product(what_works=items))
    block = "## What works\n" + "\n".join(f"- {item[:-5]}xyzzy" for item in items)

    report, seconds = _timed(block, memory)

    assert seconds < 3
    assert [f["current"] for f in report["stale_facts"]] == items  # each line found its own item
    assert report["not_compared"] == NOTHING_SKIPPED


def test_a_long_block_against_200_superseded_decisions_is_checked_in_full_and_fast():
    texts = _sentences(400, 195)
    superseded = [
        SupersededDecision(f"{n:08d}-0000-4000-8000-000000000000", texts[2 * n], "Atlas", "x", texts[2 * n + 1])
        for n in range(200)
    ]
    block = "\n".join(_sentences(1000, 20)) + "\n" + texts[0][:-3] + "xyz"

    report, seconds = _timed(block, snapshot(superseded=superseded))

    assert seconds < 3
    assert [d["decision"] for d in report["superseded_decisions"]] == [texts[0]]
    assert report["not_compared"] == NOTHING_SKIPPED


def test_comparisons_past_the_work_budget_are_counted_not_run():
    # Texts of two letters make difflib's ratio() cubic: minutes for each of these lines.
    memory = snapshot(product=product(next_session_starts_here="ab" * 2000))
    block = "## Next session starts here\n" + "\n".join(("aabb" * 1000)[n:] + "a" * n for n in range(20))

    report, seconds = _timed(block, memory)

    assert seconds < 3
    assert report["not_compared"] == {**NOTHING_SKIPPED, "block_lines": 20}
    assert report["fresh"] is False and report["level"] != "high"


def test_long_runs_of_spaces_are_read_in_linear_time():
    block = "\n".join(["# Title" + " " * 2500 + "x", "generated" + " " * 20_000 + "x", "kernel version" + " " * 20_000])

    report, seconds = _timed(block, snapshot())

    assert seconds < 3
    assert report["as_of"] is None and report["claimed_kernel_version"] is None


# --- the tool ------------------------------------------------------------------------------------
live_db = pytest.mark.django_db(transaction=True)


@live_db
def test_the_tool_checks_a_kernel_export_against_memory_as_it_changes(mcp, base_url):
    auth = {"Authorization": f"Bearer {mcp.token}"}
    requests.put(
        f"{base_url}/api/v1/memory/identity",
        json={"identity": {"name": "Ada"}, "constraints": KERNEL["constraints"]},
        headers=auth,
        timeout=30,
    )
    mcp.tool(
        "update_product_state", {"product_name": "Atlas", "what_works": ["Login"], "what_is_blocked": ["CI is red"]}
    )
    old = mcp.tool("log_decision", {"decision": "Use MySQL for storage", "product_name": "Atlas"})
    export = requests.get(
        f"{base_url}/api/v1/kernel/export", params={"product": "Atlas"}, headers=auth, timeout=30
    ).text

    fresh = mcp.tool("check_memory_confidence", {"context_block": export, "product_name": "Atlas"})
    mcp.tool("log_decision", {"decision": "Use Postgres for storage", "product_name": "Atlas", "supersedes": old["id"]})
    mcp.tool("update_product_state", {"product_name": "Atlas", "what_is_blocked": []})
    requests.put(
        f"{base_url}/api/v1/memory/identity",
        json={"constraints": {"never": ["Deploy on Fridays"], "always": []}},
        headers=auth,
        timeout=30,
    )
    stale = mcp.tool("check_memory_confidence", {"context_block": export, "product_name": "Atlas"})

    assert fresh["fresh"] is True and fresh["level"] == "high", fresh
    assert fresh["product"]["name"] == "Atlas" and fresh["kernel"]["version"] == 1 and fresh["scope"] == "personal"
    assert stale["fresh"] is False and stale["level"] == "low"
    assert [d["decision"] for d in stale["superseded_decisions"]] == ["Use MySQL for storage"]
    assert {(f["section"], f["reason"]) for f in stale["stale_facts"]} == {
        ("never", "changed"),
        ("always", "removed"),
        ("what_is_blocked", "removed"),
    }
    assert stale["confidence"] == round(3 / (3 + 3 + 2), 3)  # identity, status, what works vs 3 stale + 1 superseded


@live_db
def test_the_tool_refuses_an_unknown_product_and_an_empty_block(mcp):
    assert (
        mcp.tool_error("check_memory_confidence", {"context_block": "x", "product_name": "Ghost"})["code"]
        == "NOT_FOUND"
    )
    fields = mcp.argument_errors("check_memory_confidence", {"context_block": ""})
    assert fields == {"context_block": ["May not be empty."]}


@live_db
def test_the_last_day_a_date_can_hold_is_read_as_its_end(mcp):
    report = mcp.tool("check_memory_confidence", {"context_block": "generated: 9999-12-31"})

    assert report["as_of"] == "9999-12-31T23:59:59.999999Z"
    assert report["stale_facts"] == []


@live_db
def test_the_tool_counts_the_lines_it_had_no_budget_to_compare(mcp):
    mcp.tool("update_product_state", {"product_name": "Atlas", "next_session_starts_here": "ab" * 500})
    block = "## Next session starts here\n" + "aabb" * 250 + "\n" + "abba" * 250

    report = mcp.tool("check_memory_confidence", {"context_block": block, "product_name": "Atlas"})

    assert report["not_compared"] == {"block_lines": 2, "constraints": 0, "superseded_decisions": 0}
    assert report["fresh"] is False and report["stale_facts"] == []


@live_db
def test_the_tool_leaves_decisions_out_for_a_token_without_decisions_read(base_url, person):
    _, tokens = obtain_tokens(base_url, person.email, scope="memory:read", resource=f"{base_url}/mcp")

    report = Mcp(base_url, tokens["access_token"]).tool("check_memory_confidence", {"context_block": "Use MySQL"})

    assert report["decisions_checked"] is False and report["superseded_decisions"] == []


def test_product_state_and_handoff_leave_decisions_out_for_a_token_without_decisions_read(base_url, person, mcp):
    mcp.tool("log_decision", {"product_name": "Atlas", "decision": "Use MySQL"})
    assert [d["decision"] for d in mcp.tool("get_product_state", {"product_name": "Atlas"})["recent_decisions"]] == [
        "Use MySQL"
    ]
    _, tokens = obtain_tokens(base_url, person.email, scope="memory:read", resource=f"{base_url}/mcp")
    reader = Mcp(base_url, tokens["access_token"])

    assert reader.tool("get_product_state", {"product_name": "Atlas"})["recent_decisions"] == []
    handoff = reader.tool("get_session_handoff", {"product_name": "Atlas"})
    assert handoff["recent_decisions"] == [] and handoff["product_name"] == "Atlas"


@live_db
@pytest.mark.parametrize(
    ("marker", "as_of"),
    [
        ("2026-05-01T14:00:00+02:00", "2026-05-01T12:00:00Z"),
        ("2026-05-01 07:30-0430", "2026-05-01T12:00:00Z"),
        # Past the years 1–9999 once in UTC: the nearest instant that exists.
        ("9999-12-31T23:00:00-05:00", "9999-12-31T23:59:59.999999Z"),
        ("0001-01-01T00:00:00+14:00", "0001-01-01T00:00:00Z"),
    ],
)
def test_a_marker_with_an_offset_is_answered_in_utc_with_z(mcp, marker, as_of):
    report = mcp.tool("check_memory_confidence", {"context_block": f"generated: {marker}"})

    assert report["as_of"] == as_of
