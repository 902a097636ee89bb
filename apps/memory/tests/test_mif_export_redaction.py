"""BYOK keys in the MIF export: redacted in what users wrote, never in the document's own layout,
and never making a text longer (SPEC §8: an export imports again; no secret is ever exported)."""

import json

import pytest

from apps.byok.tests.helpers import URL as BYOK
from apps.memory.mif.common import VENDOR
from apps.memory.services import memory_create
from apps.memory.tests.mif_support import EXPORT, export_json, import_document, mif_memory
from apps.products.models import ProductState
from apps.scopes.models import Membership
from apps.scopes.services import space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)

SHORT_KEY = "changeme"  # an openai_compatible key may have 8 characters


def add_key(api, key: str, label: str = "mine", **kwargs) -> None:
    body = {"service": "openai_compatible", "label": label, "key": key, "base_url": "http://localhost:8000/v1"}
    response = api.post(BYOK, json=body, **kwargs)
    assert response.status_code == 201, response.text


def of_kind(document: dict, kind: str) -> list[dict]:
    return [m for m in document["memories"] if m["vendor_extensions"][VENDOR]["kind"] == kind]


@pytest.mark.parametrize(
    "key",
    ['"memory_type":"', "decision", "products", "Europe/London", "id-slice"],
    ids=["json syntax", "a memory type", "a section name", "a time zone", "part of an id"],
)
def test_a_viewers_key_never_rewrites_the_layout_of_the_owners_export(make_user, client_for, key):
    owner, viewer = make_user(tier="team"), make_user(tier="team")
    workspace = workspace_create(owner=owner, name="Acme", kind="team")
    Membership.objects.create(space=workspace, user=viewer, role="viewer")
    in_workspace = {"X-Synchronex-Scope": str(workspace.id)}
    owner_api = client_for(owner)
    kernel = {
        "identity": {"name": "Ada", "timezone": "Europe/London"},
        "products": [{"name": "Atlas", "status": "active", "summary": "Memory for AI tools"}],
    }
    assert owner_api.put("/api/v1/memory/identity", json=kernel, headers=in_workspace).status_code == 200
    body = {"decision": "Use Postgres for the decision log", "product_name": "Atlas", "tags": ["db"]}
    created = owner_api.post("/api/v1/memory/decisions", json=body, headers=in_workspace)
    assert created.status_code == 201, created.text
    key = created.json()["id"][:8] if key == "id-slice" else key
    add_key(client_for(viewer), key)  # in the viewer's own personal scope

    response = owner_api.get(EXPORT, headers=in_workspace)
    assert response.status_code == 200, response.text
    document = response.json()
    markdown = owner_api.get(EXPORT, params={"format": "markdown"}, headers=in_workspace)
    assert markdown.status_code == 200, markdown.text
    (decision,) = of_kind(document, "decision")
    data = decision["vendor_extensions"][VENDOR]["data"]
    assert decision["memory_type"] == "decision" and data["id"] == created.json()["id"]
    assert {"decision", "product_name", "tags", "decided_at"} <= set(data)
    assert key.lower() not in data["decision"].lower()
    (kernel_memory,) = of_kind(document, "identity_kernel")
    kernel_data = kernel_memory["vendor_extensions"][VENDOR]["data"]
    assert kernel_data["identity"]["timezone"] == "Europe/London" and kernel_data["products"][0]["status"] == "active"

    report = import_document(client_for(make_user(tier="pro")), document).json()
    assert report["errors"] == [] and report["decisions_imported"] == 1 and report["kernel_imported"], report


def test_a_key_in_a_name_of_the_users_own_is_still_redacted(user, make_user, client_for):
    secret = "sk-local-" + "k" * 12
    space = space_ensure_personal(user=user)
    client = client_for(user)
    add_key(client, secret)
    routing = {"model_preferences": {"routing": {f"task {secret}": "gpt-5"}}}
    assert client.put("/api/v1/memory/identity", json=routing).status_code == 200
    memory_create(space=space, data=mif_memory(content="Keys", metadata={secret: "x"}, **{f"x-{secret}": 1}))

    response = client.get(EXPORT)
    assert response.status_code == 200 and secret not in response.text
    report = import_document(client_for(make_user(tier="pro")), response.json()).json()
    assert report["errors"] == [] and report["memories_imported"] == 1 and report["kernel_imported"], report


def test_a_key_shorter_than_the_marker_leaves_every_text_within_its_limit(make_user, client_for):
    client = client_for(make_user(tier="pro"))
    decision = f"Staging token is {SHORT_KEY}; rotate it. " + "x" * 1962
    tag = f"{SHORT_KEY}-" + "t" * 41
    item = f"Login works with {SHORT_KEY} " + "w" * 474
    assert (len(decision), len(tag), len(item)) == (2000, 50, 500)
    body = {"decision": decision, "product_name": "Atlas", "tags": [tag]}
    assert client.post("/api/v1/memory/decisions", json=body).status_code == 201
    assert client.post("/api/v1/memory/product/Atlas/state", json={"what_works": [item]}).status_code == 200
    add_key(client, SHORT_KEY)

    response = client.get(EXPORT)
    assert response.status_code == 200 and SHORT_KEY not in response.text.lower()
    document = response.json()
    (exported,) = of_kind(document, "decision")
    data = exported["vendor_extensions"][VENDOR]["data"]
    assert data["decision"] == decision.replace(SHORT_KEY, "[SECRET]") and len(data["decision"]) == 2000
    assert data["tags"] == [tag.replace(SHORT_KEY, "[secret]")]  # as a tag is stored: lowercased
    (state,) = of_kind(document, "product_state")
    assert state["vendor_extensions"][VENDOR]["data"]["what_works"] == [item.replace(SHORT_KEY, "[SECRET]")]
    assert document["export_meta"]["privacy"] == {"pii_detected": True, "redacted_fields": ["api_key"]}

    report = import_document(client_for(make_user(tier="pro")), document).json()
    assert (report["decisions_imported"], report["products_imported"], report["errors"]) == (1, 1, []), report


def test_a_key_in_a_tag_is_exported_as_a_tag_is_stored_so_the_round_trip_is_stable(make_user, client_for):
    # Tags are stored lowercased (and once each): the marker in a tag is written so, or the import
    # stores another tag than the export wrote, and exporting again gives another document.
    client = client_for(make_user(tier="pro"))
    first, second = "sk-proj-" + "z" * 24, "sk-proj-" + "y" * 24
    body = {"decision": "Rotate keys", "product_name": "Atlas", "tags": ["infra", first, second.upper()]}
    assert client.post("/api/v1/memory/decisions", json=body).status_code == 201
    add_key(client, first)
    add_key(client, second, label="other")

    exported = export_json(client)
    (decision,) = of_kind(exported, "decision")
    assert decision["tags"] == decision["vendor_extensions"][VENDOR]["data"]["tags"] == ["infra", "[redacted:api_key]"]

    target = client_for(make_user(tier="pro"))
    report = import_document(target, exported).json()
    assert (report["decisions_imported"], report["errors"]) == (1, []), report
    again = export_json(target)
    assert again["memories"] == exported["memories"]
    assert again["export_meta"]["checksum"] == exported["export_meta"]["checksum"]


def test_a_url_redaction_leaves_invalid_is_left_out_so_the_record_imports(make_user, client_for):
    # A key in a URL's host (or user part) leaves no URL once redacted: the import would refuse
    # the kernel and the product state for it. Elsewhere in a URL the marker is still a URL.
    key = "tok-" + "a" * 16
    client = client_for(make_user(tier="pro"))
    products = [
        {"name": "Atlas", "summary": "Memory", "url": f"https://{key}.example/"},
        {"name": "Beta", "url": f"https://beta.example/start?token={key}"},
    ]
    assert client.put("/api/v1/memory/identity", json={"products": products}).status_code == 200
    assert client.post("/api/v1/memory/product/Atlas/state", json={"what_works": ["Login"]}).status_code == 201
    ProductState.objects.filter(name="Atlas").update(kernel_summary="Memory", kernel_url=products[0]["url"])
    add_key(client, key)

    exported = export_json(client)
    report = import_document(client_for(make_user(tier="pro")), exported).json()
    assert (report["errors"], report["products_imported"], report["kernel_imported"]) == ([], 1, True), report
    assert key not in json.dumps(exported)
    (kernel,) = of_kind(exported, "identity_kernel")
    entries = kernel["vendor_extensions"][VENDOR]["data"]["products"]
    assert entries == [
        {"name": "Atlas", "summary": "Memory"},
        {"name": "Beta", "url": "https://beta.example/start?token=[REDACTED:api_key]"},
    ]
    (state,) = of_kind(exported, "product_state")
    assert state["vendor_extensions"][VENDOR]["data"]["kernel_url"] == ""


def test_two_product_names_that_differ_only_in_their_keys_stay_two_products(make_user, client_for):
    # Redacted alone, "Atlas k1-AAAAA" and "Atlas k2-BBBBB" both became "Atlas [SECRET]": the import
    # kept the first and dropped the second as a duplicate, with its state and decisions.
    client = client_for(make_user(tier="pro"))
    first, second = "k1-AAAAA", "k2-BBBBB"
    kernel = {"products": [{"name": f"Atlas {first}", "status": "active"}, {"name": f"Atlas {second}"}]}
    assert client.put("/api/v1/memory/identity", json=kernel).status_code == 200
    for key, item in ((first, "one"), (second, "two")):
        written = client.post(f"/api/v1/memory/product/Atlas {key}/state", json={"what_works": [item]})
        assert written.status_code == 201, written.text
        body = {"decision": f"Ship {item}", "product_name": f"Atlas {key}", "affects_products": [f"Atlas {key}"]}
        assert client.post("/api/v1/memory/decisions", json=body).status_code == 201
    add_key(client, first)
    add_key(client, second, label="other")

    exported = export_json(client)
    assert first not in json.dumps(exported) and second not in json.dumps(exported)
    states = {s["vendor_extensions"][VENDOR]["data"]["name"]: s for s in of_kind(exported, "product_state")}
    assert len(states) == 2 and all(name.startswith("Atlas [SECRET] (") for name in states)
    (kernel_memory,) = of_kind(exported, "identity_kernel")
    assert [p["name"] for p in kernel_memory["vendor_extensions"][VENDOR]["data"]["products"]] == list(states)
    decisions = [d["vendor_extensions"][VENDOR]["data"] for d in of_kind(exported, "decision")]
    assert [(d["product_name"], d["affects_products"]) for d in decisions] == [(n, [n]) for n in states]

    target = client_for(make_user(tier="pro"))
    report = import_document(target, exported).json()
    assert report["errors"] == [] and report["duplicates_skipped"] == 0, report
    assert (report["products_imported"], report["decisions_imported"]) == (2, 2), report
    restored = {p["name"]: p["what_works"] for p in target.get("/api/v1/memory/products").json()["results"]}
    assert sorted(restored.values()) == [["one"], ["two"]] and set(restored) == set(states)
    assert export_json(target)["memories"] == exported["memories"]  # the names carry no key: a stable round trip


def test_keys_of_an_imported_memory_that_redact_alike_keep_every_value(make_user, client_for):
    # {"note k1-AAAAA": "first", "note k2-BBBBB": "second"} was exported as {"note [SECRET]": "second"}.
    client = client_for(make_user(tier="pro"))
    first, second = "k1-AAAAA", "k2-BBBBB"
    memory = mif_memory(
        content="I like tea",
        memory_type="preference",
        metadata={f"note {first}": "first", f"note {second}": "second", "note [SECRET]": "as written"},
    )
    assert import_document(client, {"mif_version": "2.0", "memories": [memory]}).json()["memories_imported"] == 1
    add_key(client, first)
    add_key(client, second, label="other")

    exported = export_json(client)
    (written,) = of_kind(exported, "memory")
    assert written["metadata"] == {
        "note [SECRET] (2)": "first",
        "note [SECRET] (3)": "second",
        "note [SECRET]": "as written",
    }
    target = client_for(make_user(tier="pro"))
    report = import_document(target, exported).json()
    assert (report["memories_imported"], report["errors"]) == (1, []), report
    (restored,) = of_kind(export_json(target), "memory")
    assert restored["metadata"] == written["metadata"]


def test_a_key_spelling_a_memory_type_leaves_the_type_as_written(make_user, client_for):
    client = client_for(make_user(tier="pro"))
    memory = mif_memory(content="I like tea", memory_type="preference")
    assert import_document(client, {"mif_version": "2.0", "memories": [memory]}).json()["memories_imported"] == 1
    add_key(client, "preference")

    (written,) = of_kind(export_json(client), "memory")
    assert written["memory_type"] == "preference"


def test_overlapping_keys_are_redacted_whole(make_user, client_for):
    # Replaced one after the other, the first key took the shared characters and the rest of the
    # second ("ddddEEEE") was left in clear text.
    client = client_for(make_user(tier="pro"))
    first, second = "AAAAbbbbCCCCxyz1", "CCCCxyz1ddddEEEE"
    body = {"decision": f"token {first}{second[8:]} here", "product_name": "Ov"}
    assert client.post("/api/v1/memory/decisions", json=body).status_code == 201
    add_key(client, first)
    add_key(client, second, label="other")

    exported = export_json(client)
    (decision,) = of_kind(exported, "decision")
    assert decision["vendor_extensions"][VENDOR]["data"]["decision"] == "token [REDACTED:api_key] here"
    kernel = client.get("/api/v1/kernel/export", params={"product": "Ov", "format": "text"})
    assert kernel.status_code == 200 and "ddddEEEE" not in kernel.text and "[REDACTED:api_key]" in kernel.text
