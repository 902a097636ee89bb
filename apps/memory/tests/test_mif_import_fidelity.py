"""MIF import reports and restores what the document holds: JSONL lines as Node writes them, a dry
run that answers like the real run, and supersedes links that survive documents in any order."""

import copy
import json
import uuid

import pytest

from apps.decisions.models import Decision
from apps.memory.mif.common import VENDOR, iso_z
from apps.memory.models import Memory
from apps.memory.tests.mif_support import export_json, import_document, mif_document, mif_memory, seed_space
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

# Characters ``str.splitlines()`` breaks on that JSON.stringify (which writes memory.jsonl) leaves raw.
SEPARATORS = "\u2028\u2029\u0085"


def _data(memory: dict) -> dict:
    return memory["vendor_extensions"][VENDOR]["data"]


def _kind(memory: dict) -> str | None:
    return memory.get("vendor_extensions", {}).get(VENDOR, {}).get("kind")


def _renamed(memory: dict, **changes) -> dict:
    """A copy of an exported record under new ids (memory and data), with ``changes`` to its data."""
    twin = copy.deepcopy(memory)
    twin["id"] = str(uuid.uuid4())
    _data(twin).update(id=twin["id"], **changes)
    return twin


# -- JSONL lines -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["auto", "mcp-jsonl"])
def test_jsonl_text_with_unicode_line_separators_stays_on_its_line(user, client_for, fmt):
    observation = "pasted from Word\u2028second line\u2029third\u0085fourth"
    lines = [
        json.dumps(
            {"type": "entity", "name": "Ada", "entityType": "x", "observations": [observation]}, ensure_ascii=False
        ),
        json.dumps({"type": "entity", "name": "Engine", "entityType": "thing", "observations": ["Runs"]}),
        json.dumps({"type": "relation", "from": "Ada", "to": "Engine", "relationType": "designs"}),
        '{"type": "entity", "name": "Bad\x0cname", "observations": []}',  # a raw form feed: not JSON
        json.dumps({"type": "entity", "name": "Crlf", "entityType": "x", "observations": ["Windows"]}),
    ]
    text = "\n".join(lines[:4]) + "\n" + lines[4] + "\r\n"
    assert any(separator in lines[0] for separator in SEPARATORS)
    client = client_for(user)
    params = {"dry_run": "true"} if fmt == "auto" else {"format": fmt, "dry_run": "true"}
    dry = import_document(client, text, params=params, content_type="application/x-ndjson")
    assert dry.status_code == 200, dry.text
    params.pop("dry_run")
    body = import_document(client, text, params=params, content_type="application/x-ndjson").json()
    assert {**dry.json(), "dry_run": False} == body
    assert (body["format"], body["memories_imported"]) == ("mcp-jsonl", 4)
    assert [(e["index"], e["message"][:7]) for e in body["errors"]] == [(3, "line 4:")]
    contents = set(Memory.objects.filter(space__owner=user).values_list("content", flat=True))
    assert contents == {f"Ada: {observation}", "Engine: Runs", "Ada designs Engine", "Crlf: Windows"}


# -- dry run ---------------------------------------------------------------------------------------
def _clashing_document(source_user, client_for) -> dict:
    """The seed export plus what only writing used to catch: a product name three times (two
    spellings of one name), a second kernel, a second successor of one decision, a cycle."""
    seed_space(source_user)
    document = export_json(client_for(source_user, "read"))
    memories = document["memories"]
    product = next(m for m in memories if _kind(m) == "product_state" and _data(m)["name"] == "Atlas")
    kernel = next(m for m in memories if _kind(m) == "identity_kernel")
    successor = next(m for m in memories if _kind(m) == "decision" and _data(m)["supersedes"])
    memories += [
        _renamed(product, name="Atlas Ω"),
        _renamed(product, name="ATLAS Ω"),
        _renamed(product, name="Atlas Ω"),
        _renamed(kernel, identity={"name": "Grace Hopper"}),
        _renamed(successor, decision="Use CockroachDB", superseded_by=None),
    ]
    first, second = _renamed(successor, decision="Cycle one"), _renamed(successor, decision="Cycle two")
    _data(first).update(supersedes=second["id"], superseded_by=second["id"])
    _data(second).update(supersedes=first["id"], superseded_by=first["id"])
    memories += [first, second]
    return document


def test_dry_run_reports_exactly_what_the_real_run_then_does(user, make_user, client_for):
    document = _clashing_document(user, client_for)
    other = make_user(tier="pro")
    client = client_for(other)
    dry = import_document(client, document, params={"dry_run": "true"}).json()
    space = space_ensure_personal(user=other)
    assert not Decision.objects.filter(space=space).exists()
    assert not ProductState.objects.filter(space=space).exists()
    real = import_document(client, document).json()
    assert dry["dry_run"] is True and real["dry_run"] is False
    for field in sorted(set(dry) | set(real)):
        if field != "dry_run":
            assert dry.get(field) == real.get(field), field
    assert (real["decisions_imported"], real["products_imported"], real["kernel_imported"]) == (3, 4, True)
    assert real["duplicates_skipped"] == 2
    messages = [e["message"] for e in real["errors"]]
    assert len(messages) == 4, messages
    assert sum("already superseded" in m for m in messages) == 1
    assert sum("already has an Identity Kernel" in m for m in messages) == 1
    assert sum("cycle" in m for m in messages) == 2


# -- supersedes links across documents -------------------------------------------------------------
def test_successor_imported_before_the_decision_it_supersedes_is_linked_later(user, make_user, client_for):
    data = seed_space(user)
    old, new = data["decisions"]
    source = client_for(user, "read")
    since = export_json(source, since=iso_z(new.created_at), types="decision")
    full = export_json(source, types="decision")
    # Superseded since, the older decision is in it too (its superseded_by changed); a part of a
    # file cut by hand need not be.
    assert {_data(m)["id"] for m in since["memories"]} >= {str(new.id), str(old.id)}
    incremental = mif_document([m for m in since["memories"] if _data(m)["id"] != str(old.id)])

    client = client_for(make_user(tier="pro"))
    first = import_document(client, incremental).json()
    assert first["errors"] == [] and first["decisions_imported"] == len(incremental["memories"])
    index = next(i for i, m in enumerate(incremental["memories"]) if _data(m)["id"] == str(new.id))
    assert [(w["index"], w["id"]) for w in first["warnings"]] == [(index, str(new.id))]
    assert str(old.id) in first["warnings"][0]["message"]
    # Meanwhile the export keeps naming the decision it supersedes.
    waiting = {_data(m)["id"]: _data(m) for m in export_json(client, types="decision")["memories"]}
    assert waiting[str(new.id)]["supersedes"] == str(old.id)

    second = import_document(client, full).json()
    assert second["errors"] == [] and second["warnings"] == []
    assert (second["decisions_imported"], second["duplicates_skipped"]) == (1, 2)
    current = client.get("/api/v1/memory/decisions/search").json()  # current decisions only
    assert {item["decision"] for item in current["results"]} == {"Use PostgreSQL", "Ship the Gamma beta in June"}
    again = export_json(client, types="decision")
    assert again["memories"] == full["memories"]
    assert again["export_meta"]["checksum"] == full["export_meta"]["checksum"]


def test_a_decision_whose_successor_is_already_here_is_linked_by_its_superseded_by(user, make_user, client_for):
    data = seed_space(user)
    old, new = (str(d.id) for d in data["decisions"])
    full = export_json(client_for(user, "read"), types="decision")
    memories = {_data(m)["id"]: m for m in full["memories"]}
    # The successor arrives first without naming what it supersedes (say, edited by another tool).
    alone = copy.deepcopy(memories[new])
    _data(alone)["supersedes"] = None
    other = make_user(tier="pro")
    client = client_for(other)
    first = import_document(client, mif_document([alone])).json()
    assert (first["decisions_imported"], first["errors"], first["warnings"]) == (1, [], [])
    second = import_document(client, mif_document([memories[old]])).json()
    assert (second["decisions_imported"], second["errors"], second["warnings"]) == (1, [], [])
    space = space_ensure_personal(user=other)
    newer = Decision.objects.get(space=space, origin_id=new)
    older = Decision.objects.get(space=space, origin_id=old)
    assert (newer.supersedes_id, older.superseded_by_id) == (older.id, newer.id)


def _decision(text: str, *, supersedes: str | None = None) -> dict:
    data = {"id": str(uuid.uuid4()), "decision": text, "product_name": "Atlas", "supersedes": supersedes}
    return mif_memory(id=data["id"], content=text, vendor_extensions={VENDOR: {"kind": "decision", "data": data}})


def test_links_the_rules_forbid_are_reported_and_stop_waiting(user, client_for):
    """Two successors waiting for one decision: the first imported is linked, the other is told;
    a successor the arriving decision itself supersedes would close a cycle: not linked."""
    client = client_for(user)
    root = _decision("Use MySQL")
    first = _decision("Use PostgreSQL", supersedes=root["id"])
    second = _decision("Use SQLite", supersedes=root["id"])
    for successor in (first, second):
        assert len(import_document(client, mif_document([successor])).json()["warnings"]) == 1
    body = import_document(client, mif_document([root])).json()
    assert (body["decisions_imported"], body["errors"]) == (1, [])
    assert [(w["index"], w["id"]) for w in body["warnings"]] == [(0, root["id"])]
    assert second["id"] in body["warnings"][0]["message"] and "already superseded" in body["warnings"][0]["message"]
    rows = {str(d.origin_id or d.id): d for d in Decision.objects.filter(space__owner=user)}
    assert rows[first["id"]].supersedes_id == rows[root["id"]].id
    assert rows[second["id"]].supersedes_id is None and rows[second["id"]].supersedes_pending is None

    waiting = _decision("Use Redis", supersedes=str(uuid.uuid4()))
    import_document(client, mif_document([waiting]))
    awaited = _decision("Use Memcached", supersedes=waiting["id"])
    awaited["id"] = _data(awaited)["id"] = _data(waiting)["supersedes"]
    body = import_document(client, mif_document([awaited])).json()
    assert body["decisions_imported"] == 1 and "cycle" in body["warnings"][0]["message"]
    rows = {str(d.origin_id or d.id): d for d in Decision.objects.filter(space__owner=user)}
    assert rows[awaited["id"]].supersedes_id == rows[waiting["id"]].id
    assert rows[waiting["id"]].supersedes_id is None and rows[waiting["id"]].supersedes_pending is None
