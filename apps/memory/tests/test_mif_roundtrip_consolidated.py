"""What consolidation records survives export → import (SPEC §8): the survivor each merged copy
was merged into (``merged_into``), and the summary and URL a product keeps of its kernel entry
(``kernel_summary``, ``kernel_url``). Over real HTTP; consolidation runs in this process."""

from __future__ import annotations

import copy
import uuid

import pytest
from django.utils import timezone

from apps.decisions.tests.helpers import record
from apps.memory.mif.common import VENDOR, iso_z
from apps.memory.tests.mif_support import (
    by_id,
    export_json,
    import_document,
    mif_document,
    mif_memory,
    without_export_metadata,
)
from apps.products.models import ProductState
from apps.scopes.services import space_ensure_personal
from tests.support.consolidation import consolidate

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("broker_on_test_database")]

DECISIONS = "/api/v1/memory/decisions"
IDENTITY = "/api/v1/memory/identity"
REDIS = "Store sessions in Redis"
APPS = [f"App{n}" for n in range(10)]


def _import(client, document) -> dict:
    response = import_document(client, document)
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["errors"] == [], report
    return report


def _data(memory: dict) -> dict:
    return memory["vendor_extensions"][VENDOR]["data"]


def _merged(client) -> tuple[str, list[str]]:
    """Three identical decisions (to be consolidated): the survivor's id and the copies' ids."""
    made = []
    for n in range(3):
        response = client.post(DECISIONS, json={"decision": REDIS, "product_name": "Atlas", "reasoning": f"r{n}"})
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
    return made[0], made[1:]


def _gone_with_their_survivor(client, survivor: str, copies: list[str]) -> None:
    """Deleting the survivor (by its original id) deletes its copies: none is current again."""
    assert client.delete(f"{DECISIONS}/{survivor}").status_code == 204
    for copy_id in copies:
        assert client.get(f"{DECISIONS}/{copy_id}").status_code == 404
    listed = client.get(f"{DECISIONS}/search", params={"include_superseded": "true"})
    assert listed.status_code == 200 and listed.json()["results"] == [], listed.text


@pytest.mark.parametrize("chunk", [500, 2, 1])
def test_merged_copies_go_with_their_survivor_after_a_round_trip(user, make_user, client_for, monkeypatch, chunk):
    """A copy comes before its survivor (which supersedes it): in the same chunk, in an earlier
    one, or each decision alone."""
    survivor, copies = _merged(client_for(user))
    assert consolidate(space_ensure_personal(user=user))["decisions_merged"] == 2
    exported = export_json(client_for(user, "read"))
    memories = by_id(exported)
    assert [_data(memories[c])["merged_into"] for c in copies] == [survivor, survivor]
    assert _data(memories[survivor])["merged_into"] is None

    monkeypatch.setattr("apps.memory.mif.restore_decisions.CHUNK", chunk)
    client = client_for(make_user(tier="pro"))
    assert _import(client, exported)["decisions_imported"] == 3
    assert without_export_metadata(export_json(client)) == without_export_metadata(exported)
    _gone_with_their_survivor(client, survivor, copies)


@pytest.mark.parametrize("survivor_first", [False, True])
def test_a_copy_and_its_survivor_imported_in_separate_parts_are_linked(user, make_user, client_for, survivor_first):
    survivor, copies = _merged(client_for(user))
    consolidate(space_ensure_personal(user=user))
    exported = export_json(client_for(user, "read"))
    alone = {"mif_version": "2.0", "memories": [m for m in exported["memories"] if m["id"] != survivor]}
    with_survivor = {"mif_version": "2.0", "memories": [m for m in exported["memories"] if m["id"] == survivor]}

    client = client_for(make_user(tier="pro"))
    if survivor_first:
        _import(client, with_survivor)
    else:
        _import(client, alone)
        waiting = by_id(export_json(client))  # a copy waiting for its survivor still exports the link
        assert [_data(waiting[c])["merged_into"] for c in copies] == [survivor, survivor]
    _import(client, with_survivor if not survivor_first else alone)
    assert export_json(client)["memories"] == exported["memories"]
    _gone_with_their_survivor(client, survivor, copies)


def _decision(text: str, *, product: str = "Atlas", **links) -> dict:
    """A decision memory as a hand-written document gives it (``links``: supersedes, merged_into)."""
    data = {"id": str(uuid.uuid4()), "decision": text, "product_name": product, **links}
    return mif_memory(
        id=data["id"],
        content=text,
        memory_type="decision",
        vendor_extensions={VENDOR: {"kind": "decision", "data": data}},
    )


def _merged_into(client) -> dict:
    return {memory["id"]: _data(memory)["merged_into"] for memory in export_json(client, types="decision")["memories"]}


@pytest.mark.parametrize("chunk", [500, 1])
def test_a_merged_into_its_survivor_does_not_supersede_is_dropped_with_a_warning(user, client_for, monkeypatch, chunk):
    """A current copy, a cycle, a copy in another product: none is a merge, and none may make
    deleting one decision delete another."""
    survivor = _decision("Survivor S")
    current = _decision("C1, current", merged_into=survivor["id"])
    y = _decision("Y, in a cycle with Z")
    z = _decision("Z, in a cycle with Y", merged_into=y["id"])
    _data(y)["merged_into"] = z["id"]
    other = _decision("W, in another product", product="Beta")
    newer = _decision("T supersedes W", supersedes=other["id"])
    _data(other)["merged_into"] = newer["id"]
    memories = [survivor, current, y, z, other, newer]

    monkeypatch.setattr("apps.memory.mif.restore_decisions.CHUNK", chunk)
    client = client_for(user)
    report = _import(client, mif_document(memories))
    assert report["decisions_imported"] == 6
    assert len(report["warnings"]) == 4 and all("merged_into" in w["message"] for w in report["warnings"]), report
    assert set(_merged_into(client).values()) == {None}
    for gone, kept in ((survivor, current), (y, z), (newer, other)):
        assert client.delete(f"{DECISIONS}/{gone['id']}").status_code == 204
        assert client.get(f"{DECISIONS}/{kept['id']}").status_code == 200


def test_a_current_decision_merged_into_a_survivor_already_here_is_dropped_with_a_warning(user, client_for):
    survivor = _decision("Survivor S")
    client = client_for(user)
    _import(client, mif_document([survivor]))
    current = _decision("C1, current", merged_into=survivor["id"])
    report = _import(client, mif_document([current]))
    assert [(w["id"], "merged_into" in w["message"]) for w in report["warnings"]] == [(current["id"], True)]
    assert _merged_into(client) == {survivor["id"]: None, current["id"]: None}
    assert client.delete(f"{DECISIONS}/{survivor['id']}").status_code == 204
    assert client.get(f"{DECISIONS}/{current['id']}").status_code == 200


@pytest.mark.parametrize("parts", [1, 2])
def test_a_chain_of_copies_written_by_hand_is_linked(user, client_for, parts):
    """c2 ← c1 ← S (each superseding the one before), both copies merged into S: in one document,
    and the copies before their survivor in two."""
    c2 = _decision("Copy 2", merged_into=None)
    c1 = _decision("Copy 1", supersedes=c2["id"])
    survivor = _decision("Survivor S", supersedes=c1["id"])
    _data(c2)["merged_into"] = _data(c1)["merged_into"] = survivor["id"]
    client = client_for(user)
    documents = [[c2, c1, survivor]] if parts == 1 else [[c2, c1], [survivor]]
    for memories in documents:
        assert _import(client, mif_document(memories))["warnings"] == []
    assert _merged_into(client) == {c2["id"]: survivor["id"], c1["id"]: survivor["id"], survivor["id"]: None}
    _gone_with_their_survivor(client, survivor["id"], [c1["id"], c2["id"]])


def _merged_twice(client, user) -> tuple[str, list[str]]:
    """A chain merged twice: S and c1 merged, then a newer c2 merged in between (S ← c2 ← c1, both
    copies merged into S). The survivor's id and the copies' ids, oldest first."""
    made = []
    for n in range(3):
        response = client.post(DECISIONS, json={"decision": REDIS, "product_name": "Atlas", "reasoning": f"r{n}"})
        assert response.status_code == 201, response.text
        made.append(response.json()["id"])
        if n:
            consolidate(space_ensure_personal(user=user))
    return made[0], made[1:]


def _current(client, originals: list[str]) -> list[str]:
    """The decisions the default listing shows (the current ones), by these original ids."""
    found = {original: client.get(f"{DECISIONS}/{original}") for original in originals}
    own = {response.json()["id"]: original for original, response in found.items() if response.status_code == 200}
    response = client.get(f"{DECISIONS}/search", params={"limit": 100})
    assert response.status_code == 200, response.text
    return [own.get(decision["id"], decision["id"]) for decision in response.json()["results"]]


@pytest.mark.parametrize("chunk", [500, 1])
def test_a_copy_linked_to_its_survivor_by_a_later_chunk_keeps_its_merge(
    user, make_user, client_for, monkeypatch, chunk
):
    """S ← c2 ← c1, S already here: c1 (first in dependency order) reaches S only once c2 is placed,
    in c1's chunk or a later one; the outcome does not depend on which."""
    survivor, copies = _merged_twice(client_for(user), user)
    exported = export_json(client_for(user, "read"))
    assert [_data(by_id(exported)[c])["merged_into"] for c in copies] == [survivor, survivor]

    monkeypatch.setattr("apps.memory.mif.restore_decisions.CHUNK", chunk)
    client = client_for(make_user(tier="pro"))
    _import(client, mif_document([m for m in exported["memories"] if m["id"] == survivor]))
    assert _import(client, mif_document([m for m in exported["memories"] if m["id"] != survivor]))["warnings"] == []
    assert without_export_metadata(export_json(client)) == without_export_metadata(exported)
    _gone_with_their_survivor(client, survivor, copies)


@pytest.mark.parametrize("chunk", [500, 2, 1])
def test_a_chain_linked_by_superseded_by_keeps_its_merges_across_chunks(user, client_for, monkeypatch, chunk):
    """c2 ← c1 ← S written by hand, S naming nothing in ``supersedes`` and c1 naming S in
    ``superseded_by``: S comes before c1 in the document's order, and c2 before both."""
    c2 = _decision("Copy 2")
    survivor = _decision("Survivor S")
    c1 = _decision("Copy 1", supersedes=c2["id"], superseded_by=survivor["id"], merged_into=survivor["id"])
    _data(c2).update(superseded_by=c1["id"], merged_into=survivor["id"])

    monkeypatch.setattr("apps.memory.mif.restore_decisions.CHUNK", chunk)
    client = client_for(user)
    assert _import(client, mif_document([c2, survivor, c1]))["warnings"] == []
    assert _merged_into(client) == {c2["id"]: survivor["id"], c1["id"]: survivor["id"], survivor["id"]: None}
    _gone_with_their_survivor(client, survivor["id"], [c1["id"], c2["id"]])


def test_a_file_cut_between_a_copy_and_the_copy_above_it_keeps_the_merge(user, make_user, client_for):
    """S ← c2 ← c1 exported oldest first and cut after c1 (``jq '.memories[0:n]'``): c1's
    ``superseded_by`` names c2, not here yet, so its merge waits for c2 rather than being dropped."""
    survivor, (c1, c2) = _merged_twice(client_for(user), user)
    exported = export_json(client_for(user, "read"))

    client = client_for(make_user(tier="pro"))
    first = _import(client, mif_document([m for m in exported["memories"] if m["id"] != c2]))
    assert [w["id"] for w in first["warnings"]] == [survivor], first  # its supersedes waits for c2
    assert _import(client, mif_document([by_id(exported)[c2]]))["warnings"] == []
    assert without_export_metadata(export_json(client)) == without_export_metadata(exported)
    _gone_with_their_survivor(client, survivor, [c1, c2])


@pytest.mark.parametrize("chunk", [500, 1])
def test_copies_of_an_export_since_a_moment_are_current_until_their_survivor_arrives(
    user, make_user, client_for, monkeypatch, chunk
):
    """A newer copy without its older survivor (a part of an export cut by hand; ``since=`` holds
    the survivor too, which the merge changed): imported alone, the copy is current (nothing here
    supersedes it) and remembers its survivor; the full export imported after it leaves what that
    export alone leaves."""
    survivor, (c1, c2) = _merged_twice(client_for(user), user)
    reader = client_for(user, "read")
    exported = export_json(reader)
    since = export_json(reader, since=by_id(exported)[c2]["created_at"], types="decision")
    assert [m["id"] for m in since["memories"]] == [survivor, c1, c2]  # the merge changed all three
    partial = mif_document([by_id(since)[c2]])

    monkeypatch.setattr("apps.memory.mif.restore_decisions.CHUNK", chunk)
    client = client_for(make_user(tier="pro"))
    _import(client, partial)
    assert _current(client, [survivor, c1, c2]) == [c2]
    (waiting,) = map(_data, export_json(client, types="decision")["memories"])
    assert (waiting["supersedes"], waiting["superseded_by"], waiting["merged_into"]) == (c1, None, survivor)

    _import(client, exported)
    assert _current(client, [survivor, c1, c2]) == [survivor]
    assert without_export_metadata(export_json(client)) == without_export_metadata(exported)
    _gone_with_their_survivor(client, survivor, [c1, c2])


@pytest.mark.parametrize("chunk", [500, 1])
def test_a_full_export_and_a_later_since_export_restore_a_merge_made_between_them(
    user, make_user, client_for, monkeypatch, chunk
):
    """S supersedes X, exported in full; then D, a copy of S, is recorded and merged into it (S
    supersedes D, D supersedes X; S takes D's tags, reasoning and alternatives). The export since
    the full one holds every decision the merge changed, and imported after the full one it puts D
    between S and X, merged into S."""
    writer, reader = client_for(user), client_for(user, "read")
    x = record(writer, "Host on Heroku", tags=["hosting"])["id"]
    s = record(writer, "Host on AWS ECS Fargate", tags=["hosting"], supersedes=x)["id"]
    full = export_json(reader, types="decision")
    since = iso_z(timezone.now())
    d = record(writer, "Host on AWS ECS Fargate.", tags=["aws", "cost"], reasoning="Savings plan", alternatives=["EKS"])
    assert consolidate(space_ensure_personal(user=user))["decisions_merged"] == 1
    later = export_json(reader, types="decision", since=since)
    # D is new; S took D's fields and now supersedes it; X is superseded by D instead of S.
    assert {m["id"] for m in later["memories"]} == {x, s, d["id"]}
    source = by_id(export_json(reader, types="decision"))

    monkeypatch.setattr("apps.memory.mif.restore_decisions.CHUNK", chunk)
    client = client_for(make_user(tier="pro"))
    _import(client, full)
    report = _import(client, later)
    assert (report["decisions_imported"], report["duplicates_skipped"], report["warnings"]) == (1, 2, [])
    restored = by_id(export_json(client, types="decision"))
    assert restored[d["id"]] == source[d["id"]] and restored[x] == source[x]  # links and merge as in the source
    # S was imported from the full export; the later record is its duplicate, and an import never
    # rewrites a decision already here: S keeps its own fields, D (superseded) holds what it added
    # (so S records no own values of a merge: ``merge_base``).
    assert {key for key, value in _data(source[s]).items() if _data(restored[s])[key] != value} == {
        "tags",
        "reasoning",
        "alternatives",
        "merge_base",
    }
    assert _data(restored[s]) == {**_data(by_id(full)[s]), "supersedes": d["id"]}
    # Deleting the survivor deletes its copy: X, superseded by hand, is current again.
    assert client.delete(f"{DECISIONS}/{s}").status_code == 204
    assert client.get(f"{DECISIONS}/{d['id']}").status_code == 404
    assert _current(client, [x, s, d["id"]]) == [x]


@pytest.mark.parametrize("chunk", [500, 1])
@pytest.mark.parametrize("full_first", [True, False])
@pytest.mark.parametrize("count", [1, 2, 3])
def test_a_merge_of_several_copies_made_between_a_full_and_a_since_export_is_restored(
    user, make_user, client_for, monkeypatch, count, full_first, chunk
):
    """S supersedes X, exported in full; then ``count`` copies of S are recorded and merged into it
    (X ← Dn ← … ← D1 ← S). The export since the full one, imported after it or before it, puts
    every copy back in the chain, merged into S: none is refused, none left current beside S."""
    writer, reader = client_for(user), client_for(user, "read")
    x = record(writer, "Host on Heroku", tags=["hosting"])["id"]
    s = record(writer, "Host on AWS ECS Fargate", tags=["hosting"], supersedes=x)["id"]
    full = export_json(reader, types="decision")
    since = iso_z(timezone.now())
    texts = ["Host on AWS ECS Fargate.", "host on aws ecs fargate", "HOST ON AWS ECS FARGATE!"][:count]
    copies = [record(writer, text, tags=[f"t{n}"], reasoning=f"r{n}")["id"] for n, text in enumerate(texts)]
    assert consolidate(space_ensure_personal(user=user))["decisions_merged"] == count
    later = export_json(reader, types="decision", since=since)
    assert {m["id"] for m in later["memories"]} == {x, s, *copies}
    source = by_id(export_json(reader, types="decision"))

    monkeypatch.setattr("apps.memory.mif.restore_decisions.CHUNK", chunk)
    client = client_for(make_user(tier="pro"))
    for document in (full, later) if full_first else (later, full):
        assert _import(client, document)["warnings"] == []
    restored = by_id(export_json(client, types="decision"))
    for original in (x, *copies):  # links, merges, and what each copy holds, as in the source
        assert restored[original] == source[original]
    assert _data(restored[s])["supersedes"] == _data(source[s])["supersedes"]
    assert _current(client, [x, s, *copies]) == [s]
    # Deleting the survivor deletes its copies: X, superseded by hand, is current again.
    assert client.delete(f"{DECISIONS}/{s}").status_code == 204
    assert [client.get(f"{DECISIONS}/{copy_id}").status_code for copy_id in copies] == [404] * count
    assert _current(client, [x, s, *copies]) == [x]


def test_an_export_made_before_these_fields_imports_as_before(user, make_user, client_for):
    survivor, copies = _merged(client_for(user))
    consolidate(space_ensure_personal(user=user))
    exported = export_json(client_for(user, "read"))
    older = copy.deepcopy(exported)
    for memory in older["memories"]:
        for key in ("merged_into", "kernel_summary", "kernel_url"):
            _data(memory).pop(key, None)

    client = client_for(make_user(tier="pro"))
    assert _import(client, older) == _import(client_for(make_user(tier="pro")), exported)
    again = by_id(export_json(client))
    assert [_data(again[c])["merged_into"] for c in copies] == [None, None]
    assert (_data(again[survivor])["merged_into"], _data(again[survivor])["supersedes"]) == (None, copies[0])


def test_a_survivors_own_values_survive_a_round_trip(user, make_user, client_for):
    """The survivor's own values (``merge_base``) travel with it: after an import, deleting a copy
    takes out of the survivor only what that copy gave, as in the scope exported, never an
    estimate ("db", its own and the copy's too, would go with the copy)."""
    source = client_for(user)
    survivor = record(source, REDIS, reasoning="own reason", tags=["infra", "db"])
    copy_ = record(source, REDIS, reasoning="copy reason", tags=["db", "cache"], alternatives=["Memcached"])
    assert consolidate(space_ensure_personal(user=user))["decisions_merged"] == 1
    exported = export_json(client_for(user, "read"))
    client = client_for(make_user(tier="pro"))
    _import(client, exported)
    assert without_export_metadata(export_json(client)) == without_export_metadata(exported)

    for scope in (source, client):
        assert scope.delete(f"{DECISIONS}/{copy_['id']}").status_code == 204
        after = scope.get(f"{DECISIONS}/{survivor['id']}").json()
        assert (after["tags"], after["alternatives"], after["reasoning"]) == (["infra", "db"], [], "own reason")
    assert _data(by_id(exported)[survivor["id"]])["merge_base"] == {
        "tags": ["infra", "db"],
        "affects_products": [],
        "alternatives": [],
        "reasoning": "own reason",
    }
    assert _data(by_id(exported)[copy_["id"]])["merge_base"] is None


def test_an_export_without_merge_base_imports_and_a_bad_one_is_a_bad_item(user, make_user, client_for):
    survivor, _ = _merged(client_for(user))
    consolidate(space_ensure_personal(user=user))
    exported = export_json(client_for(user, "read"))
    older, bad = copy.deepcopy(exported), copy.deepcopy(exported)
    _data(by_id(older)[survivor]).pop("merge_base")
    _data(by_id(bad)[survivor])["merge_base"] = {"tags": ["elsewhere"], "affects_products": [], "alternatives": []}

    assert _import(client_for(make_user(tier="pro")), older)["decisions_imported"] == 3
    report = import_document(client_for(make_user(tier="pro")), bad).json()
    assert report["decisions_imported"] == 2
    (error,) = report["errors"]
    assert error["id"] == survivor and error["message"].startswith("merge_base:"), error


# -- the kernel entry's summary and URL ------------------------------------------------------------
def _note(client, product: str) -> None:
    response = client.post(f"/api/v1/ingest/{product}", json={"type": "note", "body": "worked on it"})
    assert response.status_code == 202, response.text


def _described(n: int) -> dict:
    return {"name": f"App{n}", "summary": f"About App{n}", "url": f"https://app{n}.example/"}


def _kernel_products(client) -> dict[str, dict]:
    response = client.get(IDENTITY)
    assert response.status_code == 200, response.text
    return {entry["name"]: entry for entry in response.json()["products"]}


def _app0_out_of_the_kernel(user, client_for) -> dict:
    """Ten described products, then an eleventh active: App0 leaves the kernel. The export."""
    client = client_for(user)
    assert client.put(IDENTITY, json={"products": [_described(n) for n in range(10)]}).status_code == 200
    for name in [*APPS, "Side"]:
        _note(client, name)
    consolidate(space_ensure_personal(user=user))
    assert "App0" not in _kernel_products(client)
    return export_json(client_for(user, "read"))


def _product(document: dict, name: str) -> dict:
    return next(_data(m) for m in document["memories"] if "product-state" in m["tags"] and _data(m)["name"] == name)


def test_a_product_out_of_the_kernel_gets_its_summary_back_after_a_round_trip(user, make_user, client_for):
    exported = _app0_out_of_the_kernel(user, client_for)
    app0 = _product(exported, "App0")
    assert (app0["kernel_summary"], app0["kernel_url"]) == ("About App0", "https://app0.example/")

    target = make_user(tier="pro")
    client = client_for(target)
    assert _import(client, exported)["products_imported"] == 11
    assert without_export_metadata(export_json(client)) == without_export_metadata(exported)
    _note(client, "App0")
    consolidate(space_ensure_personal(user=target))
    assert _kernel_products(client)["App0"] == {**_described(0), "status": "active"}


def test_a_product_a_partial_import_created_takes_the_summary_of_the_full_one(user, make_user, client_for):
    assert client_for(user).post(DECISIONS, json={"decision": "Ship it", "product_name": "App0"}).status_code == 201
    exported = _app0_out_of_the_kernel(user, client_for)
    decisions = export_json(client_for(user, "read"), types="decision")

    target = make_user(tier="pro")
    client = client_for(target)
    _import(client, decisions)  # App0 created bare, by its decision
    assert _import(client, exported)["products_imported"] == 11  # App0 filled in place
    assert without_export_metadata(export_json(client)) == without_export_metadata(exported)
    row = ProductState.objects.get(space=space_ensure_personal(user=target), name="App0")
    assert (row.kernel_summary, row.kernel_url) == ("About App0", "https://app0.example/")


def test_a_product_a_partial_import_created_keeps_the_summary_of_its_own_kernel(user, make_user, client_for):
    assert client_for(user).post(DECISIONS, json={"decision": "Ship it", "product_name": "App0"}).status_code == 201
    exported = _app0_out_of_the_kernel(user, client_for)

    target = make_user(tier="pro")
    client = client_for(target)
    mine = {"name": "App0", "summary": "Our own words"}
    assert client.put(IDENTITY, json={"products": [mine]}).status_code == 200
    _import(client, export_json(client_for(user, "read"), types="decision"))
    space = space_ensure_personal(user=target)
    consolidate(space)  # the target's kernel entry is remembered on the bare product
    report = import_document(client, exported).json()
    assert report["products_imported"] == 11
    assert [e["message"] for e in report["errors"]] == [
        "This scope already has an Identity Kernel; it was not replaced. "
        "Clear it (PUT /memory/identity) and import again to restore this one."
    ]
    row = ProductState.objects.get(space=space, name="App0")
    assert row.origin_id is not None  # filled by the record, but its own summary stays
    assert (row.kernel_summary, row.kernel_url) == ("Our own words", "https://app0.example/")


def test_a_kernel_url_the_kernel_would_refuse_is_a_bad_item(user, make_user, client_for):
    exported = _app0_out_of_the_kernel(user, client_for)
    app0 = next(m for m in exported["memories"] if "product-state" in m["tags"] and _data(m)["name"] == "App0")
    _data(app0).update(kernel_url="javascript:alert(1)", kernel_summary="x" * 501)
    report = import_document(client_for(make_user(tier="pro")), {"mif_version": "2.0", "memories": [app0]}).json()
    assert report["products_imported"] == 0
    (error,) = report["errors"]
    assert error["id"] == app0["id"]
    assert "kernel_summary" in error["message"] and "kernel_url: Enter an http(s) URL." in error["message"]
