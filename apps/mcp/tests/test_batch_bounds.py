"""The bounds of one JSON-RPC batch (revision 2025-03-26): its length, its answer's bytes, its time.

A batch used to run every item it held, however many, and to answer them all at once: 20 calls
of ``export_memories`` answered 20 times the 8 MiB a single call may answer.
"""

from __future__ import annotations

import json

import pytest

from apps.decisions.models import Decision
from apps.decisions.services import decision_create
from apps.scopes.services import space_ensure_personal
from tests.support.quota import wait_for_fresh_minute_margin

pytestmark = pytest.mark.django_db(transaction=True)

# The documented limits (README, "MCP server"), written out: a change to them is a change of contract.
BATCH_MAX_MESSAGES = 20
BATCH_ANSWER_MAX_BYTES = 8 * 1024 * 1024
BATCH_LIMIT_REACHED = -32033


def _call(n: int, name: str, arguments: dict) -> dict:
    return {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": name, "arguments": arguments}}


def _log(n: int, text: str) -> dict:
    return _call(n, "log_decision", {"decision": text, "product_name": "Atlas"})


def _export(n: int) -> dict:
    return _call(n, "export_memories", {})


def _size(answer: dict) -> int:
    return len(json.dumps(answer, ensure_ascii=False).encode())


def test_a_batch_over_the_message_limit_is_refused_whole_before_any_item_runs_and_counts_once(mcp):
    wait_for_fresh_minute_margin(5)
    mcp.version = "2025-03-26"
    batch = [_log(n, f"Batched {n}") for n in range(BATCH_MAX_MESSAGES + 1)]

    response = mcp.post(batch)

    assert response.status_code == 400
    body = response.json()
    assert body["id"] is None and body["error"]["code"] == -32600
    assert f"at most {BATCH_MAX_MESSAGES} messages" in body["error"]["message"]
    assert not Decision.objects.exists()
    assert response.headers["X-RateLimit-Remaining"] == "299"  # nothing of it ran: the POST counts once


def test_notifications_count_towards_the_message_limit(mcp):
    mcp.version = "2025-03-26"
    notification = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    batch = [{"jsonrpc": "2.0", "id": 1, "method": "ping"}] + [notification] * BATCH_MAX_MESSAGES

    response = mcp.post(batch)

    assert response.status_code == 400 and response.json()["error"]["code"] == -32600


def test_a_batch_at_the_message_limit_runs_every_item(mcp):
    wait_for_fresh_minute_margin(5)
    mcp.version = "2025-03-26"

    response = mcp.post([{"jsonrpc": "2.0", "id": n, "method": "ping"} for n in range(BATCH_MAX_MESSAGES)])

    assert response.status_code == 200
    assert [answer["id"] for answer in response.json()] == list(range(BATCH_MAX_MESSAGES))
    assert all(answer["result"] == {} for answer in response.json())
    assert response.headers["X-RateLimit-Remaining"] == str(300 - BATCH_MAX_MESSAGES)


def test_a_batch_runs_no_more_items_once_its_answer_reaches_the_byte_limit(mcp, person):
    wait_for_fresh_minute_margin(10)
    space = space_ensure_personal(user=person)
    for n in range(100):  # about 1 MB of decisions: each export answers about 3 MB
        decision_create(space=space, decision=f"Decision {n}", product_name="Atlas", reasoning=f"Because {n}. " * 800)
    mcp.version = "2025-03-26"
    batch = [_export(n) for n in range(6)] + [_log(6, "Never stored")]

    response = mcp.post(batch)

    assert response.status_code == 200
    answers = response.json()
    assert [answer["id"] for answer in answers] == list(range(7))
    ran = [answer for answer in answers if "result" in answer]
    refused = answers[len(ran) :]
    assert ran and all(answer["result"]["isError"] is False for answer in ran)
    # Items ran while the answer was under the limit; the one that crossed it was the last.
    sizes = [_size(answer) for answer in ran]
    assert sum(sizes[:-1]) < BATCH_ANSWER_MAX_BYTES <= sum(sizes)
    assert refused and all(answer["error"]["code"] == BATCH_LIMIT_REACHED for answer in refused)
    assert refused[0]["error"]["data"] == {"limit": "answer_bytes", "max": BATCH_ANSWER_MAX_BYTES}
    assert str(BATCH_ANSWER_MAX_BYTES) in refused[0]["error"]["message"]
    assert len(response.content) < BATCH_ANSWER_MAX_BYTES + max(sizes) + 1000
    assert not Decision.objects.filter(decision="Never stored").exists()
    # Counted before the batch ran, so that a batch over the quota runs nothing (documented).
    assert response.headers["X-RateLimit-Remaining"] == str(300 - len(batch))


def test_a_batch_runs_no_more_items_once_its_time_is_spent(mcp, settings):
    settings.WEB_TIMEOUT = 0  # a batch's time is a quarter of it: spent once the first item has run
    mcp.version = "2025-03-26"
    batch = [
        _log(1, "First"),
        {"jsonrpc": "2.0", "id": 2, "method": "ping"},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        _log(3, "Never stored"),
        {"jsonrpc": "1.0", "id": 4, "method": "ping"},
    ]

    response = mcp.post(batch)

    assert response.status_code == 200
    answers = {answer["id"]: answer for answer in response.json()}
    assert set(answers) == {1, 2, 3, 4}
    assert answers[1]["result"]["isError"] is False
    for refused in (answers[2], answers[3]):
        assert refused["error"]["code"] == BATCH_LIMIT_REACHED
        assert refused["error"]["data"] == {"limit": "seconds", "max": 0}
    assert answers[4]["error"]["code"] == -32600  # an invalid item is still answered as invalid
    assert list(Decision.objects.values_list("decision", flat=True)) == ["First"]
