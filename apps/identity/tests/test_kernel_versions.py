"""ETag/If-Match, concurrent writers, revisions and their history, the cached block."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import ApiKey, digest_key
from apps.identity import renderer
from apps.identity.models import Kernel, KernelRevision
from apps.scopes.services import space_ensure_personal, workspace_create
from synchronex.api import stamps

URL = "/api/v1/memory/identity"
HISTORY = "/api/v1/memory/identity/history"


def run_concurrently(calls):
    """Run the callables at the same moment (a barrier) and return their results in order."""
    barrier = threading.Barrier(len(calls))
    results: list = [None] * len(calls)

    def worker(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.django_db(transaction=True)
class TestIfMatch:
    @pytest.mark.parametrize("header", ['"1"', "1", "*", '"7", "1"', '"7" ,"1"'])
    def test_matching_if_match_writes(self, write_api, header):
        write_api.put(URL, json={"identity": {"name": "Ada"}})
        response = write_api.put(URL, json={"identity": {"name": "Grace"}}, headers={"If-Match": header})
        assert response.status_code == 200, response.text
        assert response.headers["ETag"] == '"2"'
        assert response.json()["identity"]["name"] == "Grace"

    @pytest.mark.parametrize("header", ['"0"', "2", 'W/"1"', '"abc"'])
    def test_stale_or_weak_if_match_is_precondition_failed_and_changes_nothing(self, write_api, header):
        write_api.put(URL, json={"identity": {"name": "Ada"}})
        response = write_api.put(URL, json={"identity": {"name": "Grace"}}, headers={"If-Match": header})
        assert response.status_code == 412
        error = response.json()["error"]
        assert error["code"] == "PRECONDITION_FAILED" and error["details"]["current_version"] == 1
        assert response.headers["ETag"] == '"1"'
        current = write_api.get(URL).json()
        assert current["identity"]["name"] == "Ada" and current["version"] == 1
        assert write_api.get(HISTORY).json()["count"] == 1

    def test_first_write_may_send_if_match_zero(self, write_api):
        response = write_api.put(URL, json={"identity": {"name": "Ada"}}, headers={"If-Match": '"0"'})
        assert response.status_code == 200 and response.json()["version"] == 1

    def test_star_matches_a_kernel_never_written(self, write_api):
        assert write_api.put(URL, json={"identity": {"name": "Ada"}}, headers={"If-Match": "*"}).status_code == 200

    # Not entity-tag syntax (an unclosed quote included): the client's bug, not a stale version.
    @pytest.mark.parametrize("header", [",", '"1', "yesterday"])
    def test_blank_or_malformed_if_match_is_a_validation_error(self, write_api, header):
        response = write_api.put(URL, json={"identity": {"name": "Ada"}}, headers={"If-Match": header})
        assert response.status_code == 400
        assert "If-Match" in response.json()["error"]["details"]["fields"]

    def test_without_if_match_the_last_writer_wins(self, write_api, client_for, user):
        other = client_for(user)
        write_api.put(URL, json={"identity": {"name": "Ada"}})
        other.put(URL, json={"identity": {"name": "Grace"}})
        assert write_api.get(URL).json()["identity"]["name"] == "Grace"


@pytest.mark.django_db(transaction=True)
class TestConcurrentWriters:
    def test_two_writers_with_the_same_if_match_one_wins_one_fails(self, write_api, client_for, user):
        write_api.put(URL, json={"identity": {"name": "Start"}})
        second = client_for(user)
        a, b = run_concurrently(
            [
                lambda: write_api.put(URL, json={"identity": {"name": "A"}}, headers={"If-Match": '"1"'}),
                lambda: second.put(URL, json={"identity": {"name": "B"}}, headers={"If-Match": '"1"'}),
            ]
        )
        assert sorted([a.status_code, b.status_code]) == [200, 412]
        winner = a if a.status_code == 200 else b
        current = write_api.get(URL).json()
        assert current["version"] == 2
        assert current["identity"]["name"] == winner.json()["identity"]["name"]
        assert [r["version"] for r in write_api.get(HISTORY).json()["results"]] == [2, 1]

    def test_first_writers_racing_on_a_new_space_create_one_kernel(self, client_for, user):
        one, two = client_for(user), client_for(user)
        a, b = run_concurrently(
            [
                lambda: one.put(URL, json={"identity": {"name": "A"}}, headers={"If-Match": '"0"'}),
                lambda: two.put(URL, json={"identity": {"name": "B"}}, headers={"If-Match": '"0"'}),
            ]
        )
        assert sorted([a.status_code, b.status_code]) == [200, 412]
        assert Kernel.objects.filter(space__owner=user).count() == 1

    def test_concurrent_writes_to_different_sections_lose_nothing(self, client_for, user):
        clients = [client_for(user) for _ in range(4)]
        bodies = [
            {"identity": {"name": "Ada"}},
            {"constraints": {"never": ["Guess"]}},
            {"products": [{"name": "Engine"}]},
            {"model_preferences": {"default_model": "big"}},
        ]
        responses = run_concurrently(
            [lambda c=c, b=b: c.put(URL, json=b) for c, b in zip(clients, bodies, strict=True)]
        )
        assert [r.status_code for r in responses] == [200] * 4
        current = clients[0].get(URL).json()
        assert current["version"] == 4
        assert current["identity"]["name"] == "Ada"
        assert current["constraints"]["never"] == ["Guess"]
        assert current["products"][0]["name"] == "Engine"
        assert current["model_preferences"]["default_model"] == "big"
        assert sorted(r.json()["version"] for r in responses) == [1, 2, 3, 4]


@pytest.mark.django_db(transaction=True)
class TestHistory:
    def test_every_put_stores_a_revision_listed_newest_first(self, write_api):
        for i in range(5):
            write_api.put(URL, json={"identity": {"name": f"Name {i}"}})
        key = ApiKey.objects.get(digest=digest_key(write_api.token))
        body = write_api.get(HISTORY).json()
        assert body["count"] == 5 and body["next_offset"] is None
        assert [r["version"] for r in body["results"]] == [5, 4, 3, 2, 1]
        assert body["scope"] == "personal"
        newest = body["results"][0]
        assert newest["actor"] == f"api_key:{key.id}"
        assert newest["actor_user"] == {"user_id": str(key.user.id), "email": key.user.email, "name": key.user.name}
        assert newest["snapshot"]["identity"]["name"] == "Name 4"
        assert set(newest["snapshot"]) == {"identity", "products", "constraints", "model_preferences"}
        assert newest["created_at"].endswith("Z")
        revision = KernelRevision.objects.get(kernel__space__owner=key.user, version=5)
        assert revision.actor_user == key.user

    def test_history_pages(self, write_api):
        for i in range(5):
            write_api.put(URL, json={"identity": {"name": f"Name {i}"}})
        page = write_api.get(HISTORY, params={"limit": 2}).json()
        assert [r["version"] for r in page["results"]] == [5, 4]
        assert (page["count"], page["limit"], page["offset"], page["next_offset"]) == (5, 2, 0, 2)
        last = write_api.get(HISTORY, params={"limit": 2, "offset": 4}).json()
        assert [r["version"] for r in last["results"]] == [1] and last["next_offset"] is None
        beyond = write_api.get(HISTORY, params={"offset": 50}).json()
        assert beyond["results"] == [] and beyond["count"] == 5

    @pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}])
    def test_history_paging_bounds(self, write_api, params):
        response = write_api.get(HISTORY, params=params)
        assert response.status_code == 400 and response.json()["error"]["code"] == "VALIDATION_ERROR"

    def test_failed_writes_store_no_revision(self, write_api):
        write_api.put(URL, json={"identity": {"name": "x" * 201}})
        write_api.put(URL, json={"identity": {"name": "A"}}, headers={"If-Match": '"5"'})
        assert write_api.get(HISTORY).json() == {
            "results": [],
            "count": 0,
            "limit": 20,
            "offset": 0,
            "next_offset": None,
            "scope": "personal",
        }

    def test_read_key_can_list_history(self, write_api, client_for, user):
        write_api.put(URL, json={"identity": {"name": "Ada"}})
        assert client_for(user, "read").get(HISTORY).json()["count"] == 1

    def test_users_never_see_each_others_history(self, client_for, make_user):
        alice_api, bob_api = client_for(make_user()), client_for(make_user())
        alice_api.put(URL, json={"identity": {"name": "Alice"}})
        bob_api.put(URL, json={"identity": {"name": "Bob"}})
        bob_history = bob_api.get(HISTORY).json()
        assert bob_history["count"] == 1
        assert bob_history["results"][0]["snapshot"]["identity"]["name"] == "Bob"


@pytest.mark.django_db
class TestCachedBlock:
    def test_get_never_renders_the_block(self, inproc_for, user, monkeypatch):
        client = inproc_for(user)
        written = client.put(URL, {"constraints": {"never": ["Guess"]}}, format="json").json()

        def refuse(*args, **kwargs):
            raise AssertionError("rendered on a read")

        monkeypatch.setattr(renderer, "render_block", refuse)
        for _ in range(3):
            response = client.get(URL)
            assert response.status_code == 200
            assert response.json()["injection_block"] == written["injection_block"] == "## Never\n- Guess"

    @staticmethod
    def queries(client, path) -> list[str]:
        """The SQL of one request, without the quota counters (their statements vary when a
        window rolls over mid-test, which says nothing about this endpoint)."""
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return [q["sql"] for q in captured.captured_queries if "synchronex_cache" not in q["sql"]]

    def test_get_reads_one_kernel_row_and_writes_nothing(self, inproc_for, user):
        client = inproc_for(user)
        client.put(URL, {"constraints": {"never": ["one rule"]}}, format="json")
        client.get(URL)  # warm per-key bookkeeping (last-used stamp)
        stamps.forget()  # read it from the database, not from this process's memory
        small = self.queries(client, URL)
        ours = [sql for sql in small if "identity_" in sql]
        assert len(ours) == 1 and "FROM identity_kernel" in ours[0]
        assert not [sql for sql in small if sql.startswith(("UPDATE", "INSERT", "DELETE"))]
        # The next read reuses what this process remembered (synchronex/api/stamps.py).
        assert not [sql for sql in self.queries(client, URL) if "identity_" in sql]
        # A kernel fifty times larger costs exactly the same queries.
        client.put(URL, {"constraints": {"never": [f"rule {i}" for i in range(50)]}}, format="json")
        client.get(URL)
        stamps.forget()
        assert len(self.queries(client, URL)) == len(small)

    def test_history_page_costs_one_query_whatever_its_size(self, inproc_for, user):
        client = inproc_for(user)
        client.put(URL, {"identity": {"name": "first"}}, format="json")
        client.get(HISTORY)
        one = self.queries(client, HISTORY)
        assert len([sql for sql in one if "identity_" in sql]) == 1  # the page with its count
        for i in range(5):
            client.put(URL, {"identity": {"name": f"n{i}"}}, format="json")
        client.get(HISTORY)
        assert len(self.queries(client, HISTORY)) == len(one)

    def test_a_block_from_another_renderer_is_rendered_again_once(self, inproc_for, user, monkeypatch):
        client = inproc_for(user)
        client.put(URL, {"constraints": {"never": ["Guess"]}}, format="json")
        Kernel.objects.filter(space__owner=user).update(injection_block="old rendering", block_key="r0:p1")
        # The block changes under the same version: If-None-Match is not evaluated (no 304).
        response = client.get(URL, HTTP_IF_NONE_MATCH='"1"')
        assert response.status_code == 200
        assert response.json()["injection_block"] == "## Never\n- Guess"
        assert response.json()["version"] == 1 and response["ETag"] == '"1"'
        kernel = Kernel.objects.get(space__owner=user)
        assert (kernel.injection_block, kernel.block_key) == ("## Never\n- Guess", f"r{renderer.RENDERER_VERSION}:p1")
        monkeypatch.setattr(renderer, "render_block", lambda *a, **k: pytest.fail("rendered again"))
        stamps.forget()
        assert client.get(URL).json()["injection_block"] == "## Never\n- Guess"

    @pytest.mark.parametrize(
        ("edited", "read"), [("personal", "personal"), ("workspace", "workspace"), ("personal", "workspace")]
    )
    def test_a_layer_edited_in_sql_is_a_new_version_with_its_blocks_rendered_again(
        self, inproc_for, make_user, edited, read
    ):
        """An operator's UPDATE of a section that leaves ``version`` alone: the database gives the
        layer a new version (migration ``identity.0006``), so neither the block cached on the layer
        nor a member's effective block of a workspace is served from the old sections, and an
        If-Match read before the edit no longer matches."""
        owner = make_user(tier="team")
        client = inproc_for(owner)
        spaces = {
            "personal": space_ensure_personal(user=owner),
            "workspace": workspace_create(owner=owner, name="Ops", kind="team"),
        }
        header = {"HTTP_X_SYNCHRONEX_SCOPE": str(spaces["workspace"].pk)} if read == "workspace" else {}
        edit = {"HTTP_X_SYNCHRONEX_SCOPE": str(spaces["workspace"].pk)} if edited == "workspace" else {}
        client.put(URL, {"identity": {"name": "Carol", "company": "OldCo"}}, format="json", **edit)
        for _ in range(2):  # rendered, cached on the rows and remembered
            body = client.get(URL, **header).json()
            assert body["identity"]["company"] == "OldCo" and "Carol · OldCo" in body["injection_block"]
        with connection.cursor() as cursor:
            cursor.execute(
                "UPDATE identity_kernel SET identity = jsonb_set(identity, '{company}', %s) WHERE space_id = %s",
                ['"NewCo"', spaces[edited].pk],
            )
        for _ in range(2):
            body = client.get(URL, **header).json()
            assert body["identity"]["company"] == "NewCo" and "Carol · NewCo" in body["injection_block"]
            export = client.get("/api/v1/kernel/export", **header).content.decode()
            assert "Carol · NewCo" in export and "OldCo" not in export
        stale = client.put(URL, {"identity": {"name": "Carol"}}, format="json", HTTP_IF_MATCH='"1"', **edit)
        assert stale.status_code == 412 and stale["ETag"] == '"2"'

    def test_block_is_rendered_once_per_write(self, inproc_for, user, monkeypatch):
        calls = []
        original = renderer.render_block

        def counting(kernel, **kwargs):
            calls.append(kernel)
            return original(kernel, **kwargs)

        monkeypatch.setattr(renderer, "render_block", counting)
        client = inproc_for(user)
        client.put(URL, {"identity": {"name": "Ada"}}, format="json")
        client.put(URL, {"identity": {"name": "Grace"}}, format="json")
        client.get(URL)
        assert len(calls) == 2
        kernel = Kernel.objects.get(space__owner=user)
        assert kernel.block_key == f"r{renderer.RENDERER_VERSION}:p2"
        assert kernel.injection_block == "## Identity\nGrace"
