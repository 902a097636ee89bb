"""BYOK keys in the MIF export: redacted in what users wrote, never in the document's own layout,
and never making a text longer (SPEC §8: an export imports again; no secret is ever exported)."""

import pytest

from apps.byok.tests.helpers import URL as BYOK
from apps.memory.mif.common import VENDOR
from apps.memory.services import memory_create
from apps.memory.tests.mif_support import EXPORT, import_document, mif_memory
from apps.scopes.models import Membership
from apps.scopes.services import space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)

SHORT_KEY = "changeme"  # an openai_compatible key may have 8 characters


def add_key(api, key: str, **kwargs) -> None:
    body = {"service": "openai_compatible", "label": "mine", "key": key, "base_url": "http://localhost:8000/v1"}
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
    assert data["tags"] == [tag.replace(SHORT_KEY, "[SECRET]")]
    (state,) = of_kind(document, "product_state")
    assert state["vendor_extensions"][VENDOR]["data"]["what_works"] == [item.replace(SHORT_KEY, "[SECRET]")]
    assert document["export_meta"]["privacy"] == {"pii_detected": True, "redacted_fields": ["api_key"]}

    report = import_document(client_for(make_user(tier="pro")), document).json()
    assert (report["decisions_imported"], report["products_imported"], report["errors"]) == (1, 1, []), report
