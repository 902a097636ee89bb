"""Invisible format characters never make a second product that looks like the first: a name's
ends lose them with its whitespace (a BOM, a zero-width space, LRM, bidi isolates), bidi controls
and invisible characters inside a name are refused, and ZWJ/ZWNJ inside a name are kept. On every
surface that names a product, over real HTTP (``apps.products.names``)."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

from apps.mcp.tests.conftest import Mcp
from apps.memory.tests.mif_support import export_json, import_document
from apps.products.models import ProductState
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal

pytestmark = pytest.mark.django_db(transaction=True)

PRODUCTS = "/api/v1/memory/products"
# How the probe wrote "Acme": with a BOM (a file saved by Notepad), a zero-width space, an LRM,
# inside a bidi isolate, and all of them around spaces.
DISGUISES = [
    "\ufeffAcme",
    "Acme\u200b",
    "Acme\u200e",
    "\u2066Acme\u2069",
    " \u200f\ufeff Acme \u2060 \u00a0",
    # Default-ignorable characters at an end: a language tag, a tag after letters (no flag), a
    # Hangul filler, a soft hyphen, a variation selector before the name.
    "Acme\U000e0001",
    "Acme\U000e0067\U000e007f",
    "Acme\u115f",
    "\u00adAcme\u3164",
    "\ufe0fAcme",
]
# Refused anywhere inside a name: bidi embeddings, overrides, isolates; ZWSP, word joiner, BOM.
INSIDE = ["Ac\u202ame", "Ac\u202eme", "Ac\u2066me", "Ac\u2069me", "Ac\u200bme", "Ac\u2060me", "Ac\ufeffme"]
# And every other default-ignorable character: soft hyphen, invisible operators, Mongolian vowel
# separator, combining grapheme joiner, Hangul fillers, LRM, a tag outside an emoji tag sequence.
INSIDE += ["Ac\u00adme", "Ac\u2061me", "Ac\u2064me", "Ac\u180eme", "Ac\u034fme", "Ac\u115fme", "Ac\u3164me"]
INSIDE += ["Ac\u200eme", "Ac\U000e0067me"]
# Kept: ZWJ in an emoji sequence, ZWNJ in Persian, an emoji tag sequence at the end (the flag
# of Scotland) or inside, an Arabic number sign at the start (it opens the number after it),
# variation selectors (VS16: an emoji's colour presentation).
KEPT = [
    "Team \U0001f468\u200d\U0001f469\u200d\U0001f467",
    "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
    "Alba \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "\u0600\u0661\u0662",
    "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f Alba",
    "Love \u2764\ufe0f",
    "\u845b\U000e0100 Ink",
]


def names(client) -> list[str]:
    response = client.get(PRODUCTS)
    assert response.status_code == 200, response.text
    return [product["name"] for product in response.json()["results"]]


def fields(response) -> dict:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    return error["details"]["fields"]


def test_format_characters_at_a_names_ends_name_the_same_product_on_every_surface(write_api, base_url, make_key, user):
    assert write_api.post("/api/v1/memory/product/Acme/state", json={}).status_code == 201
    mcp = Mcp(base_url, make_key(user, "write"))
    for name in DISGUISES:
        path = quote(name, safe="")
        assert write_api.post(f"/api/v1/ingest/{path}", json={"type": "note", "title": "n"}).status_code == 202
        assert write_api.post(f"/api/v1/memory/product/{path}/state", json={}).status_code == 200
        assert write_api.get(f"/api/v1/memory/product/{path}/state").json()["name"] == "Acme"
        decision = write_api.post(
            "/api/v1/memory/decisions", json={"decision": f"Use {uuid.uuid4()}", "product_name": name}
        )
        assert decision.status_code == 201, decision.text
        assert decision.json()["product_name"] == "Acme"
        mcp.tool("register_session", {"product_name": name})
    assert names(write_api) == ["Acme"]

    kernel = write_api.put("/api/v1/memory/identity", json={"products": [{"name": "\ufeffAcme\u200e"}]})
    assert kernel.status_code == 200, kernel.text
    assert [product["name"] for product in kernel.json()["products"]] == ["Acme"]


@pytest.mark.parametrize("name", INSIDE)
def test_bidi_controls_and_invisible_characters_inside_a_name_are_refused(write_api, base_url, make_key, user, name):
    path = quote(name, safe="")
    ch = next(c for c in name if c not in "Acme")
    problem = f"A product name may not contain U+{ord(ch):04X} "
    for response, field in (
        (write_api.post(f"/api/v1/memory/product/{path}/state", json={}), "name"),
        (write_api.post(f"/api/v1/ingest/{path}", json={"type": "note", "title": "n"}), "project_id"),
        (write_api.post("/api/v1/memory/decisions", json={"decision": "d", "product_name": name}), "product_name"),
        (
            write_api.post(
                "/api/v1/memory/decisions", json={"decision": "d", "product_name": "A", "affects_products": [name]}
            ),
            "affects_products[0]",
        ),
        (write_api.put("/api/v1/memory/identity", json={"products": [{"name": name}]}), "products[0].name"),
    ):
        found = fields(response)
        assert list(found) == [field] and found[field][0].startswith(problem), found
    mcp = Mcp(base_url, make_key(user, "write"))
    assert mcp.argument_errors("register_session", {"product_name": name})["product_name"][0].startswith(problem)
    assert names(write_api) == []


@pytest.mark.parametrize("name", KEPT)
def test_zwj_zwnj_emoji_tags_and_number_signs_are_kept(write_api, name):
    response = write_api.post(f"/api/v1/memory/product/{quote(name, safe='')}/state", json={})
    assert response.status_code == 201, response.text
    assert response.json()["name"] == name


def test_a_name_of_format_characters_alone_is_blank(write_api):
    for name in ("\ufeff", "\u200b \u200e", "\u2066\u2069"):
        assert fields(write_api.post(f"/api/v1/memory/product/{quote(name, safe='')}/state", json={})) == {
            "name": ["A product name may not be blank."]
        }


def test_a_mif_import_reads_product_names_by_the_same_rule(make_user, client_for):
    """Names stored before the rule (here: through the ORM) keep their spelling where they are; an
    import reads them as migration products.0004 did (``mif.legacy_names``): the first fills the bare
    ``Acme`` there, the second, which is another product, is its second."""
    source = make_user(tier="pro")
    space = space_ensure_personal(user=source)
    for name in ("\ufeffAcme", "Ac\u202eme"):
        ProductState.objects.create(space=space, name=name)
    document = export_json(client_for(source))

    target_user = make_user(tier="pro")
    product_ensure(space=space_ensure_personal(user=target_user), name="Acme")
    target = client_for(target_user)
    response = import_document(target, document)
    assert response.status_code == 200, response.text
    assert response.json()["errors"] == []
    assert sorted(names(target)) == ["Acme", "Acme (2)"]


def test_workspace_names_share_the_rule(client_for, make_user):
    team = client_for(make_user(tier="team"))
    created = team.post("/api/v1/workspaces", json={"name": "\ufeffStudio\u200b", "kind": "team"})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "Studio"
    refused = fields(team.post("/api/v1/workspaces", json={"name": "Stu\u202edio", "kind": "team"}))
    assert list(refused) == ["name"] and refused["name"][0].startswith("A workspace name may not contain U+202E ")
    blank = fields(team.post("/api/v1/workspaces", json={"name": "\u200b", "kind": "team"}))
    assert blank == {"name": ["A workspace name may not be blank."]}
    assert team.post("/api/v1/workspaces", json={"name": "Ka\u200cfe", "kind": "team"}).status_code == 201


def test_a_workspace_names_length_is_counted_once_trimmed(client_for, make_user):
    team = client_for(make_user(tier="team"))
    for name in ("W" * 200 + "\u200b", "\ufeff" + "V" * 200, "U" * 200 + " "):
        created = team.post("/api/v1/workspaces", json={"name": name, "kind": "team"})
        assert created.status_code == 201, created.text
        assert created.json()["name"] == name.strip(" \u200b\ufeff")
    too_long = fields(team.post("/api/v1/workspaces", json={"name": "T" * 201 + "\u200b", "kind": "team"}))
    assert too_long == {"name": ["Ensure this field has no more than 200 characters."]}


def test_a_long_run_of_spaces_inside_a_name_is_trimmed_in_one_pass(write_api, base_url, make_key, user):
    # A name is trimmed before its length is checked. The end's trimmable run was searched from
    # each of its positions (quadratic: 4,000 spaces inside a name took 1 s of CPU, the 200,000
    # below would take most of an hour); now it is read from the end once, whatever the name holds.
    name = "A" + " " * 200_000 + "B"
    response = write_api.post("/api/v1/memory/decisions", json={"decision": "d", "product_name": name})
    assert fields(response) == {"product_name": ["A product name has at most 100 characters."]}
    mcp = Mcp(base_url, make_key(user, "write"))
    assert mcp.argument_errors("register_session", {"product_name": name})["product_name"][0].startswith("At most 100")
    # The flag of Scotland at the end, with spaces inside and after it, keeps its tag sequence.
    scotland = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    created = write_api.post(
        "/api/v1/memory/decisions", json={"decision": "d", "product_name": f"Alba  {scotland} \u200b "}
    )
    assert created.status_code == 201 and created.json()["product_name"] == f"Alba  {scotland}"
