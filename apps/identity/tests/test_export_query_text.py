"""The kernel export's ``query``/``task`` reads dashes and colons as decision search does."""

from __future__ import annotations

import pytest

from apps.decisions.services import decision_create
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db

URL = "/api/v1/kernel/export"
TASK = "Fix the redis cache bug\n" + "-" * 40 + "\nSteps: check invalidation\n- redis keys\n- cache ttl"


def decisions_of(response) -> str:
    assert response.status_code == 200, response.content
    return next((s["content"] for s in response.json()["sections"] if s["kind"] == "decisions"), "")


@pytest.fixture
def client(user, inproc_for):
    space = space_ensure_personal(user=user)
    decision_create(space=space, decision="Cache invalidation for redis keys", product_name="Engine")
    decision_create(space=space, decision="Stream events through Kafka", product_name="Engine")
    for n in range(6):
        decision_create(space=space, decision=f"Public API docs, part {n}", product_name="Engine")
    decision_create(
        space=space, decision="Document https://docs.example.com/api/v2 in the README", product_name="Engine"
    )
    return inproc_for(user, "read")


def test_a_task_with_a_separator_line_and_list_markers_is_exported(client):
    posted = decisions_of(client.post(URL, {"format": "json", "task": TASK, "decisions": 1}, format="json"))
    got = decisions_of(client.get(URL, {"format": "json", "query": TASK, "decisions": 1}))
    assert "Cache invalidation for redis keys" in posted and got == posted


def test_a_url_as_written_exports_the_decision_holding_it_first(client):
    query = "https://docs.example.com/api/v2"
    content = decisions_of(client.get(URL, {"format": "json", "query": query, "decisions": 1}))
    assert "Document https://docs.example.com/api/v2 in the README" in content


def test_a_dash_inside_a_quoted_command_excludes_nothing(client):
    # Over SHORT_QUERY_WORDS words: searched by its words only, with the task's exclusions.
    task = 'Look into the redis cache keys and the invalidation path before we ship; see "git commit --amend" notes'
    content = decisions_of(client.post(URL, {"format": "json", "task": task}, format="json"))
    assert "Cache invalidation for redis keys" in content


@pytest.mark.parametrize("task", ["(-kafka) redis", '"redis"-kafka', "redis !-kafka", "(-kafka) stream or redis"])
def test_a_dash_after_an_operator_or_a_quote_excludes_as_in_search(client, task):
    content = decisions_of(client.post(URL, {"format": "json", "task": task}, format="json"))
    assert "Cache invalidation for redis keys" in content and "Kafka" not in content, content
