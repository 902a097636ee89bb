"""The layered kernel of workspace scopes (SPEC §3): each member's personal layer under the
workspace layer, on every read (GET, PUT's answer, kernel export, memory search), cached."""

from __future__ import annotations

from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.identity import renderer, services
from apps.identity.models import EffectiveBlock, Kernel
from apps.scopes.models import Membership, Role, Space
from apps.scopes.services import member_put, workspace_create
from synchronex.api import stamps

URL = "/api/v1/memory/identity"
HISTORY = "/api/v1/memory/identity/history"
EXPORT = "/api/v1/kernel/export"
SEARCH = "/api/v1/memory/search"
PERSONAL = {"X-Synchronex-Scope": "personal"}

ADA_PERSONAL = {
    "identity": {"name": "Ada Personal", "company": "Ada Ltd", "timezone": "Europe/London", "role": "Founder"},
    "products": [{"name": "Ada's side project"}],
    "constraints": {
        "always": ["Cite sources", "Write tests"],
        "never": ["Invent APIs"],
        "communication_style": "Terse",
    },
    "model_preferences": {"providers": ["anthropic"], "default_model": "ada-model", "routing": {"code": "ada-coder"}},
}
STUDIO_LAYER = {
    "identity": {"company": "Studio GmbH", "industry": "Design"},
    "constraints": {"always": ["Write tests", "Use British spelling"], "never": ["Share client data", "Invent APIs"]},
    "model_preferences": {"routing": {"review": "studio-reviewer"}},
}
# SPEC §3, applied by hand to the two layers above.
ADA_IN_STUDIO = {
    "identity": {
        "name": "Ada Personal",
        "company": "Studio GmbH",
        "timezone": "Europe/London",
        "role": "Founder",
        "industry": "Design",
    },
    "products": [{"name": "Ada's side project"}],
    "constraints": {
        "always": ["Cite sources", "Write tests", "Use British spelling"],
        "never": ["Invent APIs", "Share client data"],
        "communication_style": "Terse",
    },
    "model_preferences": {
        "providers": ["anthropic"],
        "default_model": "ada-model",
        "routing": {"review": "studio-reviewer"},
    },
}


def add_member(workspace: Space, user, role: str) -> None:
    owner = Membership.objects.get(space=workspace, role=Role.OWNER)
    member_put(actor_membership=owner, user=user, role=role)


@pytest.fixture
def studio(make_user):
    """A team workspace owned by Ada, with Bob as member and Vic as viewer."""
    ada, bob, vic = (make_user(tier="team") for _ in range(3))
    workspace = workspace_create(owner=ada, name="Studio", kind="team")
    add_member(workspace, bob, Role.MEMBER)
    add_member(workspace, vic, Role.VIEWER)
    return {"space": workspace, "ada": ada, "bob": bob, "vic": vic, "header": {"X-Synchronex-Scope": str(workspace.id)}}


def _compact(value):
    """A response section without its unset (null) fields, as the layers store it."""
    if isinstance(value, dict):
        return {key: _compact(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_compact(item) for item in value]
    return value


def effective_sections(body: dict) -> dict:
    return {name: _compact(body[name]) for name in ("identity", "products", "constraints", "model_preferences")}


def seen(response) -> dict:
    """The effective kernel's sections in a kernel response."""
    assert response.status_code == 200, response.text
    return effective_sections(response.json())


@pytest.mark.django_db(transaction=True)
class TestMergeOverHttp:
    def test_workspace_layer_sits_on_the_members_personal_layer(self, studio, client_for):
        ada, header = client_for(studio["ada"]), studio["header"]
        assert ada.put(URL, json=ADA_PERSONAL).status_code == 200
        written = ada.put(URL, json=STUDIO_LAYER, headers=header)
        assert written.status_code == 200, written.text
        read = ada.get(URL, headers=header)
        body = read.json()
        assert body["scope"] == "team"
        assert effective_sections(body) == ADA_IN_STUDIO
        assert effective_sections(written.json()) == ADA_IN_STUDIO
        block = renderer.render_block(ADA_IN_STUDIO)
        assert body["injection_block"] == block.text
        assert body["injection_tokens"] == block.tokens and body["truncated"] is block.truncated
        assert body["injection_block"].index("Invent APIs") < body["injection_block"].index("Share client data")

    def test_products_come_from_the_workspace_layer_once_it_has_any(self, studio, client_for):
        ada, header = client_for(studio["ada"]), studio["header"]
        ada.put(URL, json={"products": [{"name": "Personal app"}]})
        assert seen(ada.get(URL, headers=header))["products"] == [{"name": "Personal app"}]
        ada.put(URL, json={"products": [{"name": "Client site"}, {"name": "Client app"}]}, headers=header)
        assert seen(ada.get(URL, headers=header))["products"] == [{"name": "Client site"}, {"name": "Client app"}]
        ada.put(URL, json={"products": None}, headers=header)
        assert seen(ada.get(URL, headers=header))["products"] == [{"name": "Personal app"}]

    def test_a_workspace_without_a_layer_shows_the_personal_layer(self, studio, client_for):
        ada, header = client_for(studio["ada"]), studio["header"]
        personal = ada.put(URL, json=ADA_PERSONAL).json()
        body = ada.get(URL, headers=header).json()
        assert effective_sections(body) == effective_sections(personal)
        assert body["injection_block"] == personal["injection_block"]
        assert body["version"] == 0 and body["scope"] == "team"
        assert body["updated_at"] == personal["updated_at"]

    def test_a_member_without_a_personal_layer_sees_the_workspace_layer(self, studio, client_for):
        ada, bob, header = client_for(studio["ada"]), client_for(studio["bob"]), studio["header"]
        layer = ada.put(URL, json=STUDIO_LAYER, headers=header).json()
        ada.put(URL, json=ADA_PERSONAL)
        body = bob.get(URL, headers=header).json()
        assert effective_sections(body)["identity"] == STUDIO_LAYER["identity"]
        assert effective_sections(body)["constraints"] == STUDIO_LAYER["constraints"]
        assert body["injection_block"] == renderer.render_block(effective_sections(body)).text
        assert body["version"] == layer["version"] == 1
        assert "Ada" not in bob.get(URL, headers=header).text


@pytest.mark.django_db(transaction=True)
class TestMembersSeeTheirOwnPersonalLayer:
    def test_two_members_see_different_effective_kernels_and_never_each_others(self, studio, client_for):
        # The markers hold letters no hexadecimal id can contain: responses carry random UUIDs.
        ada, bob, vic = client_for(studio["ada"]), client_for(studio["bob"]), client_for(studio["vic"])
        header = studio["header"]
        ada.put(URL, json={"identity": {"name": "Ada-marker-q7x"}, "constraints": {"never": ["ada-rule-q7x"]}})
        bob.put(URL, json={"identity": {"name": "Bob-marker-z9k"}, "constraints": {"never": ["bob-rule-z9k"]}})
        ada.put(URL, json={"constraints": {"always": ["studio-rule"]}}, headers=header)

        ada_view, bob_view, vic_view = (c.get(URL, headers=header) for c in (ada, bob, vic))
        assert seen(ada_view)["identity"] == {"name": "Ada-marker-q7x"}
        assert seen(ada_view)["constraints"] == {"always": ["studio-rule"], "never": ["ada-rule-q7x"]}
        assert seen(bob_view)["identity"] == {"name": "Bob-marker-z9k"}
        assert seen(bob_view)["constraints"] == {"always": ["studio-rule"], "never": ["bob-rule-z9k"]}
        assert vic_view.json()["identity"] is None
        assert seen(vic_view)["constraints"] == {"always": ["studio-rule"]}
        assert ada_view.headers["ETag"] == bob_view.headers["ETag"] == vic_view.headers["ETag"] == '"1"'
        assert "z9k" not in ada_view.text and "q7x" not in bob_view.text
        assert "q7x" not in vic_view.text and "z9k" not in vic_view.text

        for client, own, other in ((ada, "q7x", "z9k"), (bob, "z9k", "q7x")):
            exported = client.get(EXPORT, headers=header).text
            assert f"rule-{own}" in exported and "studio-rule" in exported and other not in exported
            history = client.get(HISTORY, headers=header).text
            assert "q7x" not in history and "z9k" not in history

    def test_memory_search_finds_the_callers_effective_kernel_only(self, studio, client_for):
        ada, bob, header = client_for(studio["ada"]), client_for(studio["bob"]), studio["header"]
        ada.put(URL, json={"identity": {"name": "Zanzibar", "company": "Kumquat"}})
        bob.put(URL, json={"identity": {"name": "Pangolin"}})
        ada.put(URL, json={"identity": {"company": "Quokka"}}, headers=header)

        def identity_hits(client, q, headers=header):
            response = client.get(SEARCH, params={"q": q, "types": "identity"}, headers=headers)
            assert response.status_code == 200, response.text
            return response.json()["results"]

        found = identity_hits(ada, "Zanzibar")
        assert len(found) == 1 and "**Zanzibar**" in found[0]["snippet"] and "Quokka" in found[0]["snippet"]
        assert identity_hits(ada, "Quokka")
        assert identity_hits(ada, "Kumquat") == []  # overridden by the workspace: not in the effective kernel
        assert identity_hits(ada, "Kumquat", headers=PERSONAL)  # still in Ada's personal layer
        assert identity_hits(ada, "Pangolin") == []
        assert identity_hits(bob, "Zanzibar") == []
        assert identity_hits(bob, "Pangolin") and identity_hits(bob, "Quokka")

    def test_search_finds_a_personal_layer_before_the_workspace_has_one(self, studio, client_for):
        bob, header = client_for(studio["bob"]), studio["header"]
        bob.put(URL, json={"constraints": {"always": ["Pangolin rule"]}})
        results = bob.get(SEARCH, params={"q": "pangolin", "types": "identity"}, headers=header).json()["results"]
        assert [hit["type"] for hit in results] == ["identity"]
        assert client_for(studio["ada"]).get(SEARCH, params={"q": "pangolin"}, headers=header).json()["count"] == 0


@pytest.mark.django_db(transaction=True)
class TestWritesAndVersions:
    def test_a_workspace_put_writes_the_workspace_layer_and_leaves_the_personal_one(self, studio, client_for):
        ada, header = client_for(studio["ada"]), studio["header"]
        ada.put(URL, json=ADA_PERSONAL)
        response = ada.put(URL, json={"identity": {"name": "Studio name"}}, headers=header)
        assert response.status_code == 200 and response.headers["ETag"] == '"1"'
        assert response.json()["identity"]["name"] == "Studio name"
        assert Kernel.objects.get(space=studio["space"]).identity == {"name": "Studio name"}
        personal = Kernel.objects.get(space__owner=studio["ada"], space__kind="personal")
        assert personal.version == 1 and personal.identity == ADA_PERSONAL["identity"]
        assert seen(ada.get(URL, headers=PERSONAL))["identity"] == ADA_PERSONAL["identity"]

    def test_a_personal_put_leaves_the_workspace_layer_and_its_version(self, studio, client_for):
        ada, header = client_for(studio["ada"]), studio["header"]
        ada.put(URL, json={"identity": {"company": "Studio GmbH"}}, headers=header)
        before = ada.get(URL, headers=header)
        ada.put(URL, json={"identity": {"name": "Ada"}}, headers=PERSONAL)
        after = ada.get(URL, headers=header)
        assert seen(after)["identity"] == {"name": "Ada", "company": "Studio GmbH"}
        assert after.headers["ETag"] == before.headers["ETag"] == '"1"'
        # So the ETag is no cache validator: a 304 for it would serve the body of before.
        asked = ada.get(URL, headers={**header, "If-None-Match": before.headers["ETag"]})
        assert asked.status_code == 200 and asked.json() == after.json()
        stamp = datetime.fromisoformat
        assert stamp(after.json()["updated_at"]) > stamp(before.json()["updated_at"])
        assert Kernel.objects.get(space=studio["space"]).version == 1

    def test_if_match_in_a_workspace_scope_compares_the_workspace_layers_version(self, studio, client_for):
        ada, header = client_for(studio["ada"]), studio["header"]
        for i in range(3):
            ada.put(URL, json={"identity": {"name": f"personal {i}"}})  # personal layer at version 3
        stale = ada.put(URL, json={"identity": {"name": "x"}}, headers={**header, "If-Match": '"3"'})
        assert stale.status_code == 412 and stale.json()["error"]["code"] == "PRECONDITION_FAILED"
        assert stale.json()["error"]["details"]["current_version"] == 0 and stale.headers["ETag"] == '"0"'
        first = ada.put(URL, json={"identity": {"company": "Studio"}}, headers={**header, "If-Match": '"0"'})
        assert first.status_code == 200 and first.headers["ETag"] == '"1"'
        second = ada.put(URL, json={"identity": {"company": "Studio 2"}}, headers={**header, "If-Match": '"1"'})
        assert second.status_code == 200 and second.json()["version"] == 2
        assert ada.get(URL, headers=PERSONAL).headers["ETag"] == '"3"'

    def test_viewer_reads_the_layered_kernel_but_cannot_write_the_workspace_layer(self, studio, client_for):
        ada, vic, header = client_for(studio["ada"]), client_for(studio["vic"]), studio["header"]
        ada.put(URL, json={"constraints": {"always": ["studio-rule"]}}, headers=header)
        vic.put(URL, json={"constraints": {"always": ["vic-rule"]}})  # the viewer's own personal layer
        assert seen(vic.get(URL, headers=header))["constraints"] == {"always": ["vic-rule", "studio-rule"]}
        refused = vic.put(URL, json={"constraints": {"always": ["vandal"]}}, headers=header)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == "FORBIDDEN"
        assert Kernel.objects.get(space=studio["space"]).constraints == {"always": ["studio-rule"]}

    def test_history_is_per_layer(self, studio, client_for):
        ada, bob, header = client_for(studio["ada"]), client_for(studio["bob"]), studio["header"]
        ada.put(URL, json={"identity": {"name": "p1"}})
        ada.put(URL, json={"identity": {"name": "p2"}})
        ada.put(URL, json={"identity": {"company": "w1"}}, headers=header)
        bob.put(URL, json={"identity": {"company": "w2"}}, headers=header)
        workspace = ada.get(HISTORY, headers=header).json()
        assert workspace["count"] == 2
        assert [_compact(r["snapshot"]["identity"]) for r in workspace["results"]] == [
            {"company": "w2"},
            {"company": "w1"},
        ]
        assert bob.get(HISTORY, headers=header).json() == workspace
        personal = ada.get(HISTORY, headers=PERSONAL).json()
        assert [_compact(r["snapshot"]["identity"]) for r in personal["results"]] == [{"name": "p2"}, {"name": "p1"}]
        assert bob.get(HISTORY, headers=PERSONAL).json()["count"] == 0


@pytest.mark.django_db
class TestEffectiveBlockCache:
    @pytest.fixture
    def renders(self, monkeypatch):
        calls: list[dict] = []
        original = renderer.render_block

        def counting(kernel, **kwargs):
            calls.append(kernel)
            return original(kernel, **kwargs)

        monkeypatch.setattr(renderer, "render_block", counting)
        return calls

    @staticmethod
    def get(client, space):
        response = client.get(URL, HTTP_X_SYNCHRONEX_SCOPE=str(space.id))
        assert response.status_code == 200, response.content
        return response.json()

    def test_repeated_reads_render_once_until_either_layer_changes(self, studio, inproc_for, renders):
        ada, bob, space = inproc_for(studio["ada"]), inproc_for(studio["bob"]), studio["space"]
        ada.put(URL, {"constraints": {"never": ["personal rule"]}}, format="json")
        ada.put(URL, {"constraints": {"always": ["team rule"]}}, format="json", HTTP_X_SYNCHRONEX_SCOPE=str(space.id))
        written = len(renders)  # each PUT renders its own layer (and the PUT's effective answer)
        first = self.get(ada, space)
        for _ in range(3):
            assert self.get(ada, space) == first
        assert len(renders) == written  # the PUT's answer already cached Ada's effective block

        self.get(bob, space)
        self.get(bob, space)
        assert len(renders) == written + 1  # Bob's effective kernel is his own: rendered once

        ada.put(URL, {"constraints": {"never": ["personal rule", "second"]}}, format="json")
        before = len(renders)
        changed = self.get(ada, space)
        assert len(renders) == before + 1 and "- second" in changed["injection_block"]
        self.get(ada, space)
        self.get(bob, space)  # Ada's personal layer is no part of Bob's kernel
        assert len(renders) == before + 1

        ada.put(URL, {"constraints": {"always": ["team rule 2"]}}, format="json", HTTP_X_SYNCHRONEX_SCOPE=str(space.id))
        before = len(renders)
        assert "team rule 2" in self.get(bob, space)["injection_block"]
        assert len(renders) == before + 1
        assert EffectiveBlock.objects.filter(space=space).count() == 2

    def test_a_removed_members_cached_block_goes_with_the_membership(self, studio, inproc_for):
        """The cached block renders the member's personal layer: it is not kept in the workspace
        once they are removed (or leave), though nothing reads it then."""
        ada, bob, space = inproc_for(studio["ada"]), inproc_for(studio["bob"]), studio["space"]
        bob.put(URL, {"identity": {"name": "Bob Private"}}, format="json")
        assert "Bob Private" in self.get(bob, space)["injection_block"]
        self.get(ada, space)
        members = f"/api/v1/workspaces/{space.id}/members"
        assert ada.delete(f"{members}/{studio['bob'].id}").status_code == 204
        assert not EffectiveBlock.objects.filter(space=space, user=studio["bob"]).exists()
        assert EffectiveBlock.objects.filter(space=space, user=studio["ada"]).exists()  # others' stay
        self.get(inproc_for(studio["vic"]), space)
        assert inproc_for(studio["vic"]).delete(f"{members}/{studio['vic'].id}").status_code == 204  # leaving
        assert not EffectiveBlock.objects.filter(space=space, user=studio["vic"]).exists()

    @staticmethod
    def queries(client, space) -> list[str]:
        """The SQL of one GET, without the quota counters (they vary with the clock)."""
        with CaptureQueriesContext(connection) as captured:
            assert client.get(URL, HTTP_X_SYNCHRONEX_SCOPE=str(space.id)).status_code == 200
        return [q["sql"] for q in captured.captured_queries if "synchronex_cache" not in q["sql"]]

    def test_a_cached_read_costs_two_identity_queries_and_writes_nothing(self, studio, inproc_for):
        ada, space = inproc_for(studio["ada"]), studio["space"]
        ada.put(URL, {"constraints": {"never": ["one"]}}, format="json")
        ada.put(URL, {"constraints": {"always": ["two"]}}, format="json", HTTP_X_SYNCHRONEX_SCOPE=str(space.id))
        self.get(ada, space)  # warm per-key bookkeeping (last-used stamp)
        stamps.forget()  # read it from the database, not from this process's memory
        cached = self.queries(ada, space)
        ours = [sql for sql in cached if "identity_" in sql]
        assert len(ours) == 2  # both layers in one query, then the cached block
        assert "FROM identity_kernel" in ours[0] and "FROM identity_effectiveblock" in ours[1]
        assert not [sql for sql in cached if sql.startswith(("UPDATE", "INSERT", "DELETE"))]
        # The next read reuses what this process remembered (synchronex/api/stamps.py).
        assert not [sql for sql in self.queries(ada, space) if "identity_" in sql]
        # Larger layers cost exactly the same queries.
        ada.put(URL, {"constraints": {"never": [f"rule {i}" for i in range(50)]}}, format="json")
        self.get(ada, space)
        stamps.forget()
        assert len(self.queries(ada, space)) == len(cached)

    def test_a_stale_read_renders_and_stores_once(self, studio, inproc_for):
        ada, space = inproc_for(studio["ada"]), studio["space"]
        self.get(ada, space)
        ada.put(URL, {"identity": {"name": "Ada"}}, format="json")
        stale = self.queries(ada, space)
        writes = [sql for sql in stale if sql.startswith(("UPDATE", "INSERT"))]
        assert len(writes) == 1 and writes[0].startswith('INSERT INTO "identity_effectiveblock"')
        row = EffectiveBlock.objects.get(space=space, user=studio["ada"])
        personal = Kernel.objects.get(space__owner=studio["ada"], space__kind=Space.Kind.PERSONAL)
        assert row.block_key == services.effective_block_key(personal=personal, workspace=None)
        assert row.block_key.startswith(f"r{renderer.RENDERER_VERSION}:p1:w0:")
        assert row.injection_block == "## Identity\nAda"

    def test_a_replaced_workspace_layer_is_rendered_again_not_served_from_the_cache(self, studio, inproc_for):
        # A layer deleted and written anew starts again at version 1: the key must tell them apart.
        ada, space = inproc_for(studio["ada"]), studio["space"]
        header = {"HTTP_X_SYNCHRONEX_SCOPE": str(space.id)}
        assert ada.put(URL, {"constraints": {"never": ["LEAKED"]}}, format="json", **header)["ETag"] == '"1"'
        assert "LEAKED" in self.get(ada, space)["injection_block"]
        Kernel.objects.filter(space=space).delete()  # plain SQL or a shell; the admin cannot
        stamps.forget()
        assert ada.put(URL, {"constraints": {"never": ["Clean rule"]}}, format="json", **header)["ETag"] == '"1"'
        stamps.forget()
        block = self.get(ada, space)["injection_block"]
        assert "Clean rule" in block and "LEAKED" not in block

    def test_a_replaced_personal_layer_is_rendered_again_in_every_workspace(self, studio, inproc_for):
        ada, space = inproc_for(studio["ada"]), studio["space"]
        assert ada.put(URL, {"constraints": {"never": ["Old personal rule"]}}, format="json")["ETag"] == '"1"'
        assert "Old personal rule" in self.get(ada, space)["injection_block"]
        # The personal space goes (with its layer) and comes back on the next request.
        Space.objects.filter(owner=studio["ada"], kind=Space.Kind.PERSONAL).delete()
        stamps.forget()
        assert ada.put(URL, {"constraints": {"never": ["New personal rule"]}}, format="json")["ETag"] == '"1"'
        stamps.forget()
        block = self.get(ada, space)["injection_block"]
        assert "New personal rule" in block and "Old personal rule" not in block


@pytest.mark.django_db(transaction=True)
def test_openapi_says_which_version_a_workspace_scope_compares(write_api):
    schema = write_api.get("/api/v1/openapi.json").json()
    identity = schema["paths"]["/api/v1/memory/identity"]
    for method in ("get", "put"):
        assert "personal layer with the workspace layer on top" in identity[method]["description"]
        assert "refer to the **workspace layer**" in identity[method]["description"]
    if_match = next(p for p in identity["put"]["parameters"] if p["name"] == "If-Match")
    assert "workspace layer" in if_match["description"]
