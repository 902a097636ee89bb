"""Product state over real HTTP: GET/POST /api/v1/memory/product/{name}/state (SPEC §5)."""

from __future__ import annotations

import threading
from urllib.parse import quote, urljoin, urlsplit

import pytest

from tests.support.concurrency import together

pytestmark = pytest.mark.django_db(transaction=True)


def state_path(name: str) -> str:
    return f"/api/v1/memory/product/{quote(name, safe='')}/state"


def test_post_creates_product_then_updates_partially(write_api):
    created = write_api.post(state_path("Atlas"), json={"status": "blocked", "what_works": ["login"]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "Atlas"
    assert body["status"] == "blocked"
    assert body["what_works"] == ["login"]
    assert body["what_is_blocked"] == [] and body["open_questions"] == []
    assert body["next_session_starts_here"] == "" and body["last_session_summary"] == ""
    assert body["recent_decisions"] == []
    assert body["version"] == 1 and created.headers["ETag"] == '"1"'
    assert body["scope"] == "personal"
    assert body["updated_at"].endswith("Z")

    updated = write_api.post(state_path("atlas"), json={"open_questions": ["pricing?"]})
    assert updated.status_code == 200
    body = updated.json()
    assert body["name"] == "Atlas"  # original spelling kept
    assert body["status"] == "blocked" and body["what_works"] == ["login"]  # untouched fields stay
    assert body["open_questions"] == ["pricing?"]
    assert body["version"] == 2 and updated.headers["ETag"] == '"2"'
    assert "Location" not in updated.headers  # only a creation (201) names where the product is


def test_lists_replace_and_strings_are_trimmed(write_api):
    write_api.post(state_path("Atlas"), json={"what_works": ["a", "b", "c"]})
    body = write_api.post(
        state_path("Atlas"), json={"what_works": ["  only  "], "next_session_starts_here": "  start at auth  "}
    ).json()
    assert body["what_works"] == ["only"]
    assert body["next_session_starts_here"] == "start at auth"
    cleared = write_api.post(state_path("Atlas"), json={"what_works": [], "next_session_starts_here": ""}).json()
    assert cleared["what_works"] == [] and cleared["next_session_starts_here"] == ""


def test_get_returns_state_with_etag(write_api, read_api):
    write_api.post(state_path("Atlas"), json={"status": "shipped", "what_is_blocked": ["nothing"]})
    response = read_api.get(state_path("ATLAS"))
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "Atlas" and body["status"] == "shipped" and body["what_is_blocked"] == ["nothing"]
    assert response.headers["ETag"] == '"1"'
    assert set(body) == {
        "name",
        "status",
        "what_works",
        "what_is_blocked",
        "open_questions",
        "next_session_starts_here",
        "last_session_summary",
        "recent_decisions",
        "updated_at",
        "version",
        "scope",
    }


def test_unknown_product_is_not_found(read_api):
    response = read_api.get(state_path("Nope"))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


@pytest.mark.parametrize(
    "name",
    ["Atlas Pro Max", "client/website", "Café Ünïcødé", "产品 一号", "a%b?c#d", "x" * 100, "weird+name&co"],
)
def test_names_survive_url_encoding(write_api, name):
    created = write_api.post(state_path(name), json={"status": "paused"})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == name
    # The name is one path segment of Location: a slash in it is %2F, never a path separator.
    assert created.headers["Location"] == state_path(name)
    assert write_api.get(created.headers["Location"]).json()["name"] == name
    again = write_api.get(state_path(name.upper()))
    assert again.status_code == 200, again.text
    assert again.json()["name"] == name and again.json()["status"] == "paused"


@pytest.mark.parametrize("name", [".", "..", "...", "a.b"])
def test_location_of_a_dotted_name_leads_back_to_the_product(write_api, name):
    # Sent with its dots encoded: a client removes "." and ".." segments (RFC 3986 §5.2.4).
    posted = state_path(name).replace(".", "%2E")
    created = write_api.post(posted, json={"status": "paused"})
    assert created.status_code == 201, created.text

    followed = urlsplit(urljoin(write_api.base_url + posted, created.headers["Location"])).path

    assert write_api.get(followed).json()["name"] == name
    if name not in (".", ".."):
        assert created.headers["Location"] == state_path(name)  # other dots are written as they are


def test_name_is_trimmed_and_matched_case_insensitively(write_api):
    assert write_api.post(state_path("  Mixed Case  "), json={}).status_code == 201
    again = write_api.post(state_path("mixed case"), json={"status": "paused"})
    assert again.status_code == 200
    assert again.json()["name"] == "Mixed Case"
    listed = write_api.get("/api/v1/memory/products").json()
    assert [p["name"] for p in listed["results"]] == ["Mixed Case"]


@pytest.mark.parametrize("name", [" ", "x" * 101, "tab\there"])
def test_impossible_names_are_validation_errors(write_api, name):
    for response in (write_api.get(state_path(name)), write_api.post(state_path(name), json={})):
        assert response.status_code == 400, response.text
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR" and "name" in error["details"]["fields"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"status": "done"}, "status"),
        ({"status": 1}, "status"),
        ({"status": None}, "status"),
        ({"what_works": "login"}, "what_works"),
        ({"what_works": ["x"] * 101}, "what_works"),
        ({"what_works": ["x" * 501]}, "what_works[0]"),
        ({"what_is_blocked": ["ok", 5]}, "what_is_blocked[1]"),
        ({"open_questions": [""]}, "open_questions[0]"),
        ({"open_questions": [None]}, "open_questions[0]"),
        ({"next_session_starts_here": "x" * 4001}, "next_session_starts_here"),
        ({"next_session_starts_here": 12}, "next_session_starts_here"),
        ({"last_session_summary": "set by consolidation only"}, "last_session_summary"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_bodies_are_validation_errors_naming_the_field(write_api, body, field):
    response = write_api.post(state_path("Atlas"), json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert field in error["details"]["fields"], error
    assert write_api.get(state_path("Atlas")).status_code == 404  # nothing was created


def test_limits_are_inclusive(write_api):
    body = {
        "what_works": ["w" * 500] * 100,
        "what_is_blocked": ["b"] * 100,
        "open_questions": ["q" * 500],
        "next_session_starts_here": "h" * 4000,
    }
    response = write_api.post(state_path("Atlas"), json=body)
    assert response.status_code == 201, response.text
    assert len(response.json()["what_works"]) == 100


def test_non_object_and_malformed_bodies(write_api):
    assert write_api.post(state_path("Atlas"), json=["status"]).status_code == 400
    response = write_api.post(state_path("Atlas"), data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_if_match_guards_the_write(write_api):
    write_api.post(state_path("Atlas"), json={"status": "active"})
    stale = write_api.post(state_path("Atlas"), json={"status": "paused"}, headers={"If-Match": '"7"'})
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "PRECONDITION_FAILED"
    assert stale.json()["error"]["details"]["current_version"] == 1
    fresh = write_api.post(state_path("Atlas"), json={"status": "paused"}, headers={"If-Match": '"1"'})
    assert fresh.status_code == 200 and fresh.headers["ETag"] == '"2"'
    assert write_api.post(state_path("Atlas"), json={}, headers={"If-Match": "*"}).status_code == 200
    weak = write_api.post(state_path("Atlas"), json={"status": "active"}, headers={"If-Match": 'W/"2"'})
    assert weak.status_code == 412  # If-Match compares strongly
    assert write_api.get(state_path("Atlas")).json()["status"] == "paused"


def test_if_match_on_a_missing_product_fails_and_creates_nothing(write_api):
    response = write_api.post(state_path("Ghost"), json={"status": "paused"}, headers={"If-Match": '"1"'})
    assert response.status_code == 412
    assert write_api.get(state_path("Ghost")).status_code == 404


def test_malformed_if_match_is_a_validation_error(write_api):
    response = write_api.post(state_path("Atlas"), json={}, headers={"If-Match": "yesterday"})
    assert response.status_code == 400
    assert "If-Match" in response.json()["error"]["details"]["fields"]


def test_a_write_that_changes_nothing_keeps_the_version(write_api):
    write_api.post(state_path("Atlas"), json={"status": "paused"})
    same = write_api.post(state_path("Atlas"), json={"status": "paused"})
    assert same.status_code == 200 and same.json()["version"] == 1


def test_concurrent_writes_with_the_same_if_match_lose_nothing(client_for, user):
    clients = [client_for(user), client_for(user)]
    clients[0].post(state_path("Atlas"), json={"what_works": ["base"]})
    barrier = threading.Barrier(2)
    results = {}

    def write(index: int):
        barrier.wait()
        results[index] = clients[index].post(
            state_path("Atlas"), json={"open_questions": [f"from {index}"]}, headers={"If-Match": '"1"'}
        )

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results.values())
    assert statuses == [200, 412]
    winner = next(i for i, r in results.items() if r.status_code == 200)
    final = clients[0].get(state_path("Atlas")).json()
    assert final["version"] == 2
    assert final["open_questions"] == [f"from {winner}"] and final["what_works"] == ["base"]


def test_concurrent_writes_without_if_match_both_apply(client_for, user):
    clients = [client_for(user), client_for(user)]
    barrier = threading.Barrier(2)
    results = {}
    bodies = [{"what_works": ["from 0"]}, {"open_questions": ["from 1"]}]

    def write(index: int):
        barrier.wait()
        results[index] = clients[index].post(state_path("Fresh"), json=bodies[index])

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.status_code for r in results.values()) == [200, 201]
    final = clients[0].get(state_path("Fresh")).json()
    assert final["what_works"] == ["from 0"] and final["open_questions"] == ["from 1"]
    assert final["version"] == 2


def test_scopes_are_enforced(make_user, client_for):
    owner = make_user()
    reader = client_for(owner, "read")
    response = reader.post(state_path("Atlas"), json={"status": "paused"})
    assert response.status_code == 403
    assert response.json()["error"]["details"]["required_scopes"] == ["memory:write"]


def test_unauthenticated_requests_are_rejected(api):
    assert api.get(state_path("Atlas")).status_code == 401
    assert api.post(state_path("Atlas"), json={}).status_code == 401


def test_other_users_products_are_invisible(make_user, client_for):
    alice, bob = client_for(make_user()), client_for(make_user())
    alice.post(state_path("Secret"), json={"status": "paused", "what_works": ["alice only"]})
    assert bob.get(state_path("Secret")).status_code == 404
    created = bob.post(state_path("Secret"), json={"status": "shipped"})
    assert created.status_code == 201  # bob's own product of the same name
    assert created.json()["what_works"] == []
    assert alice.get(state_path("Secret")).json()["status"] == "paused"
    assert bob.post(state_path("Secret"), json={}, headers={"If-Match": '"1"'}).status_code == 200
    assert alice.get(state_path("Secret")).json()["version"] == 1


def test_idempotency_key_replays_the_first_response(write_api):
    headers = {"Idempotency-Key": "state-1"}
    first = write_api.post(state_path("Atlas"), json={"status": "paused"}, headers=headers)
    replay = write_api.post(state_path("Atlas"), json={"status": "paused"}, headers=headers)
    assert first.status_code == replay.status_code == 201
    assert replay.json() == first.json() and replay.headers["ETag"] == '"1"'


@pytest.mark.parametrize("name", ["ΟΔΟΣ", "İstanbul", "Straße ΣΊΣΥΦΟΣ"])
def test_names_python_and_postgresql_lower_differently_are_found_again(write_api, name):
    """str.lower() turns a final 'Σ' into 'ς' and 'İ' into two characters; PostgreSQL's lower(),
    the unique index's expression, maps one character at a time. Lookups lower on the server."""
    assert write_api.post(state_path(name), json={"status": "paused"}).status_code == 201
    found = write_api.get(state_path(name))
    assert found.status_code == 200, found.text
    again = write_api.post(state_path(name), json={"status": "active"})
    assert again.status_code == 200, again.text
    assert again.json()["version"] == 2
    decided = write_api.post("/api/v1/memory/decisions", json={"decision": "Ship the ferry", "product_name": name})
    assert decided.status_code == 201, decided.text
    searched = write_api.get("/api/v1/memory/search", params={"q": "ferry", "product": name})
    assert [hit["title"] for hit in searched.json()["results"]] == ["Ship the ferry"], searched.text
    assert [p["name"] for p in write_api.get("/api/v1/memory/products").json()["results"]] == [name]


# -- If-None-Match: a write that only creates (RFC 9110 §13.1.2) --------------------------------------
def test_if_none_match_star_creates_a_missing_product_and_never_writes_over_one(write_api):
    created = write_api.post(state_path("Atlas"), json={"status": "paused"}, headers={"If-None-Match": "*"})
    assert created.status_code == 201, created.text
    assert created.headers["Location"] == state_path("Atlas") and created.headers["ETag"] == '"1"'
    again = write_api.post(state_path("ATLAS"), json={"status": "active"}, headers={"If-None-Match": "*"})
    assert again.status_code == 412, again.text
    error = again.json()["error"]
    assert error["code"] == "PRECONDITION_FAILED" and error["details"] == {"current_version": 1}
    assert again.headers["ETag"] == '"1"' and "Location" not in again.headers
    assert write_api.get(state_path("Atlas")).json()["status"] == "paused"


def test_if_none_match_with_tags_refuses_a_write_over_a_version_it_names(write_api):
    # A tag on a product that does not exist names nothing current: the write creates it.
    assert write_api.post(state_path("Atlas"), json={}, headers={"If-None-Match": '"1"'}).status_code == 201
    for header in ('"1"', "1", 'W/"1"', '"7", "1"'):  # If-None-Match compares weakly: W/"1" names it too
        refused = write_api.post(state_path("Atlas"), json={"status": "paused"}, headers={"If-None-Match": header})
        assert refused.status_code == 412, (header, refused.text)
        assert refused.json()["error"]["details"] == {"current_version": 1} and refused.headers["ETag"] == '"1"'
    written = write_api.post(state_path("Atlas"), json={"status": "paused"}, headers={"If-None-Match": '"0", "2"'})
    assert written.status_code == 200 and written.headers["ETag"] == '"2"'
    # Both headers: If-Match is evaluated first, then If-None-Match (RFC 9110 §13.2.2).
    both = {"If-Match": '"2"', "If-None-Match": "*"}
    assert write_api.post(state_path("Atlas"), json={"status": "active"}, headers=both).status_code == 412
    assert write_api.get(state_path("Atlas")).json()["status"] == "paused"


@pytest.mark.parametrize("header", ["yesterday", ",", '"1', '*, "1"'])
def test_malformed_if_none_match_is_a_validation_error_and_creates_nothing(write_api, header):
    response = write_api.post(state_path("Ghost"), json={}, headers={"If-None-Match": header})
    assert response.status_code == 400, response.text
    assert "If-None-Match" in response.json()["error"]["details"]["fields"]
    assert write_api.get(state_path("Ghost")).status_code == 404


def test_concurrent_creators_with_if_none_match_star_exactly_one_wins(client_for, user):
    creators = 6

    def create(index: int):
        return client_for(user).post(
            state_path("Fresh"), json={"what_works": [f"from {index}"]}, headers={"If-None-Match": "*"}
        )

    responses = together(creators, create)
    assert sorted(r.status_code for r in responses) == [201] + [412] * (creators - 1), [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 201)
    for lost in (r for r in responses if r.status_code == 412):
        assert lost.json()["error"]["code"] == "PRECONDITION_FAILED" and lost.headers["ETag"] == '"1"'
        assert lost.json()["error"]["details"] == {"current_version": 1}
    final = client_for(user).get(state_path("Fresh")).json()
    assert final["version"] == 1 and final["what_works"] == winner.json()["what_works"]


def test_idempotent_replay_of_a_creation_repeats_its_location(write_api):
    headers = {"Idempotency-Key": "create-1", "If-None-Match": "*"}
    first = write_api.post(state_path("a/b"), json={"status": "paused"}, headers=headers)
    replay = write_api.post(state_path("a/b"), json={"status": "paused"}, headers=headers)
    assert first.status_code == replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.headers["Location"] == first.headers["Location"] == state_path("a/b")
    # If-None-Match is part of what the key compares: the same key without it is another request.
    other = write_api.post(state_path("a/b"), json={"status": "paused"}, headers={"Idempotency-Key": "create-1"})
    assert other.status_code == 409 and "If-None-Match" in other.json()["error"]["message"]


def test_get_answers_the_whole_state_whatever_if_none_match_says(write_api):
    """No 304: the ETag is the state's version (for If-Match), and the body holds more than the
    versioned state. A decision recorded for the product changes ``recent_decisions`` and leaves
    the version as it was, so a 304 for a matching If-None-Match would serve a stale body."""
    etag = write_api.post(state_path("Atlas"), json={"status": "active"}).headers["ETag"]
    decided = write_api.post("/api/v1/memory/decisions", json={"decision": "Ship it", "product_name": "Atlas"})
    assert decided.status_code == 201
    response = write_api.get(state_path("Atlas"), headers={"If-None-Match": etag})
    assert response.status_code == 200 and response.headers["ETag"] == etag
    assert [d["decision"] for d in response.json()["recent_decisions"]] == ["Ship it"]
