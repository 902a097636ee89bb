"""Deleting a copy consolidation merged into a survivor takes back out of the survivor what the
merge took from that copy and from no other source: its tags, affected products, alternatives and
reasoning leave every surface (search, kernel export, MIF export, MCP), whatever path deletes it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from django.urls import reverse

from apps.decisions.models import Decision
from apps.mcp.tests.conftest import Mcp
from apps.memory.tests.mif_support import export_json
from apps.scopes.services import space_ensure_personal
from tests.support.consolidation import consolidate

from .helpers import DECISIONS, record, search

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]

SEP = "\n\n---\n\n"  # between the reasonings a survivor took from its copies (README)
QUEUE = "Use Postgres for the job queue"
SECRET = "cassowary vendor contract 4471 confidential"


@pytest.fixture
def space(user):
    return space_ensure_personal(user=user)


def shown(client, decision: dict) -> dict:
    response = client.get(f"{DECISIONS}/{decision['id']}")
    assert response.status_code == 200, response.text
    return response.json()


def delete(client, decision: dict) -> None:
    assert client.delete(f"{DECISIONS}/{decision['id']}").status_code == 204


def merged(fields: dict) -> dict:
    return {name: fields[name] for name in ("tags", "affects_products", "alternatives", "reasoning")}


def test_deleting_a_merged_copy_takes_what_it_gave_the_survivor_out_of_every_surface(
    space, write_api, user, base_url, make_key
):
    survivor = record(write_api, QUEUE, reasoning="simple ops", tags=["infra"])
    copy = record(
        write_api,
        "Use postgres for the job queue.",
        reasoning=SECRET,
        tags=["cassowary"],
        affects_products=["Vega"],
        alternatives=["SQS for cassowary"],
    )
    assert consolidate(space)["decisions_merged"] == 1
    assert SECRET in shown(write_api, survivor)["reasoning"]
    before_delete = datetime.now(UTC).isoformat()

    delete(write_api, copy)

    assert merged(shown(write_api, survivor)) == {
        "tags": ["infra"],
        "affects_products": [],
        "alternatives": [],
        "reasoning": "simple ops",
    }
    for params in ({"q": "cassowary"}, {"q": "cassowary", "include_superseded": "true"}, {"tags": "cassowary"}):
        assert search(write_api, **params)["results"] == [], params
    assert search(write_api, product="Vega")["results"] == []
    assert write_api.get("/api/v1/memory/search", params={"q": "cassowary"}).json()["count"] == 0
    kernel = write_api.get("/api/v1/kernel/export", params={"format": "text", "product": "Atlas"})
    assert kernel.status_code == 200 and "simple ops" in kernel.text and "cassowary" not in kernel.text
    assert "cassowary" not in json.dumps(export_json(write_api))
    assert Mcp(base_url, make_key(user, "read")).tool("search_decisions", {"query": "cassowary"})["results"] == []
    # An export since the delete holds the survivor as it is now: the change reaches other copies.
    since = export_json(write_api, since=before_delete, types="decision")
    assert [memory["id"] for memory in since["memories"]] == [survivor["id"]]
    assert "cassowary" not in json.dumps(since) and "simple ops" in json.dumps(since)


def test_several_copies_with_overlapping_values_leave_what_another_source_still_holds(space, write_api):
    survivor = record(write_api, QUEUE, reasoning="own reason", tags=["infra"], alternatives=["Redis"])
    first = record(
        write_api,
        QUEUE + ".",
        reasoning="shared reason",
        tags=["infra", "secret-a", "shared"],
        alternatives=["Redis", "Kafka"],
    )
    second = record(write_api, QUEUE.upper(), reasoning="shared reason", tags=["shared"], alternatives=["Kafka"])
    third = record(write_api, QUEUE.lower(), reasoning="secret reason c", tags=["secret-c"])
    fourth = record(write_api, QUEUE + "!", reasoning="own reason")  # the survivor's own: never a copy's
    assert consolidate(space)["decisions_merged"] == 4
    assert merged(shown(write_api, survivor)) == {
        "tags": ["infra", "secret-a", "shared", "secret-c"],
        "affects_products": [],
        "alternatives": ["Redis", "Kafka"],
        "reasoning": SEP.join(["own reason", "shared reason", "secret reason c"]),
    }

    delete(write_api, first)
    assert merged(shown(write_api, survivor)) == {
        "tags": ["infra", "shared", "secret-c"],  # "infra" is the survivor's own, "shared" the second's
        "affects_products": [],
        "alternatives": ["Redis", "Kafka"],  # the second copy holds "Kafka" too
        "reasoning": SEP.join(["own reason", "shared reason", "secret reason c"]),
    }
    delete(write_api, third)
    assert merged(shown(write_api, survivor))["reasoning"] == SEP.join(["own reason", "shared reason"])
    assert shown(write_api, survivor)["tags"] == ["infra", "shared"]
    changed = Decision.objects.get(pk=survivor["id"]).updated_at
    delete(write_api, fourth)  # it gave nothing of its own: the survivor is not changed
    assert Decision.objects.get(pk=survivor["id"]).updated_at == changed
    delete(write_api, second)
    assert merged(shown(write_api, survivor)) == {
        "tags": ["infra"],
        "affects_products": [],
        "alternatives": ["Redis"],
        "reasoning": "own reason",
    }
    assert Decision.objects.get(pk=survivor["id"]).updated_at > changed


def test_a_copy_merged_before_a_later_run_changed_the_survivor_takes_only_its_own_values(space, write_api):
    survivor = record(write_api, QUEUE, reasoning="simple ops", tags=["infra"])
    early = record(write_api, QUEUE + ".", reasoning="early secret", tags=["early"])
    assert consolidate(space)["decisions_merged"] == 1
    late = record(write_api, QUEUE + "!", reasoning="late reason", tags=["late", "early"])
    assert consolidate(space)["decisions_merged"] == 1  # the survivor takes the late copy's too
    assert shown(write_api, survivor)["reasoning"] == SEP.join(["simple ops", "early secret", "late reason"])

    delete(write_api, early)

    assert merged(shown(write_api, survivor)) == {
        # As if only the late copy had merged: "early" stays, the late copy holds it too.
        "tags": ["infra", "late", "early"],
        "affects_products": [],
        "alternatives": [],
        "reasoning": SEP.join(["simple ops", "late reason"]),
    }
    delete(write_api, late)
    assert merged(shown(write_api, survivor)) == {
        "tags": ["infra"],
        "affects_products": [],
        "alternatives": [],
        "reasoning": "simple ops",
    }


def test_a_survivor_whose_text_loses_a_copys_values_loses_its_vector_too(space, write_api):
    survivor = record(write_api, QUEUE, reasoning="simple ops")
    copy = record(write_api, QUEUE + ".", reasoning=SECRET)
    assert consolidate(space)["decisions_merged"] == 1
    # A vector computed from the merged text (step 5, with a provider) encodes the copy's reasoning.
    Decision.objects.filter(pk=survivor["id"]).update(
        embedding=[0.6, 0.8], embedding_model="m-1", embedding_dimensions=2
    )

    delete(write_api, copy)

    row = Decision.objects.get(pk=survivor["id"])
    assert row.reasoning == "simple ops"
    assert (row.embedding, row.embedding_model, row.embedding_dimensions) == (None, "", None)


@pytest.mark.parametrize("route", ["page", "selected"])
def test_an_admin_delete_of_a_merged_copy_takes_its_values_out_of_the_survivor(space, write_api, staff, route):
    survivor = record(write_api, QUEUE, reasoning="simple ops", tags=["infra"])
    copy = record(write_api, QUEUE + ".", reasoning=SECRET, tags=["cassowary"])
    assert consolidate(space)["decisions_merged"] == 1

    if route == "page":
        response = staff.post(reverse("admin:decisions_decision_delete", args=[copy["id"]]), {"post": "yes"})
    else:
        data = {"action": "delete_selected", "_selected_action": [copy["id"]], "post": "yes"}
        response = staff.post(reverse("admin:decisions_decision_changelist"), data)

    assert response.status_code == 302
    assert merged(shown(write_api, survivor))["reasoning"] == "simple ops"
    assert shown(write_api, survivor)["tags"] == ["infra"]


def test_a_merge_recorded_without_the_survivors_own_values_takes_out_what_follows_them(space, write_api):
    """Merges made before the survivor's own values were recorded (and merges restored from a MIF
    file without them) keep as the survivor's own its values up to the last one no copy holds, and at least
    its first of each: a copy's values after those go, what the survivor and its copy both had
    first stays."""
    survivor = record(write_api, QUEUE, reasoning="simple ops", tags=["infra"])
    copy = record(write_api, QUEUE + ".", reasoning=SECRET, tags=["cassowary"])
    twin = record(write_api, "Run workers on Fly", reasoning="cheap", tags=["ops"])
    twin_copy = record(write_api, "Run workers on Fly.", reasoning="cheap", tags=["ops"])
    assert consolidate(space)["decisions_merged"] == 2
    Decision.objects.filter(space=space).update(merge_base=None)

    delete(write_api, copy)
    delete(write_api, twin_copy)

    assert merged(shown(write_api, survivor)) == {
        "tags": ["infra"],
        "affects_products": [],
        "alternatives": [],
        "reasoning": "simple ops",
    }
    assert merged(shown(write_api, twin)) == {
        "tags": ["ops"],
        "affects_products": [],
        "alternatives": [],
        "reasoning": "cheap",
    }
