"""One ``If-Match`` rule for every versioned write (SPEC §1): the kernel's PUT and a product
state's POST read the header alike (``synchronex/api/preconditions.py``).

Each case is sent to both routes, each at version 1: an entity tag that names no version is
PRECONDITION_FAILED with the current ``ETag``, a value that is no entity tag at all is
VALIDATION_ERROR, and neither writes anything. Every other write has no version: an If-Match
other than ``*`` is VALIDATION_ERROR there (``refuse_without_version``).
"""

from __future__ import annotations

import re
import threading
import uuid

import pytest

from apps.products.tests.test_product_state_api import state_path

pytestmark = pytest.mark.django_db(transaction=True)

KERNEL = "/api/v1/memory/identity"
ATLAS = state_path("Atlas")

MATCHING = ['"1"', "1", "*", '"7", "1"', '"7" ,"1"', 'W/"1", "1"']
NAMING_NO_VERSION = [
    '"0"',
    "2",
    '"abc"',
    '"99999999999"',  # more digits than a version has
    '"' + "9" * 5000 + '"',  # past Python's int() digit limit: must not be a 500
    '""',
    '"01x"',
    '"01"',  # strong comparison is character for character: the ETag is "1", not "01"
    "01",
    '"a,b"',  # an opaque tag may hold a comma
    'W/"1"',  # If-Match compares strongly (RFC 9110 §13.1.1): a weak tag never matches
    '"7", W/"1"',
]
NOT_ENTITY_TAGS = ["yesterday", ",", '"1', '1"', "W/1", 'W/ "1"', '*, "1"', '"a"b"', "1.0", "\xb2"]


@pytest.fixture
def at_version_one(write_api):
    assert write_api.put(KERNEL, json={"identity": {"name": "Ada"}}).headers["ETag"] == '"1"'
    assert write_api.post(ATLAS, json={"status": "active"}).headers["ETag"] == '"1"'
    return write_api


def _writes(api, header):
    headers = {"If-Match": header}
    return {
        "kernel": api.put(KERNEL, json={"identity": {"name": "Grace"}}, headers=headers),
        "product": api.post(ATLAS, json={"status": "paused"}, headers=headers),
    }


def _unchanged(api):
    kernel, product = api.get(KERNEL).json(), api.get(ATLAS).json()
    assert (kernel["version"], kernel["identity"]["name"]) == (1, "Ada")
    assert (product["version"], product["status"]) == (1, "active")


@pytest.mark.parametrize("header", MATCHING)
def test_a_tag_naming_the_current_version_writes_on_both_routes(at_version_one, header):
    for route, response in _writes(at_version_one, header).items():
        assert response.status_code == 200, (route, response.text)
        assert response.headers["ETag"] == '"2"', route


@pytest.mark.parametrize("header", NAMING_NO_VERSION)
def test_a_tag_naming_no_current_version_is_precondition_failed_with_the_etag(at_version_one, header):
    for route, response in _writes(at_version_one, header).items():
        assert response.status_code == 412, (route, response.text)
        error = response.json()["error"]
        assert error["code"] == "PRECONDITION_FAILED" and error["details"] == {"current_version": 1}, route
        assert response.headers["ETag"] == '"1"', route
    _unchanged(at_version_one)


@pytest.mark.parametrize("header", NOT_ENTITY_TAGS)
def test_a_value_that_is_no_entity_tag_is_a_validation_error(at_version_one, header):
    for route, response in _writes(at_version_one, header).items():
        assert response.status_code == 400, (route, response.text)
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR" and list(error["details"]["fields"]) == ["If-Match"], route
        assert "ETag" not in response.headers, route
    _unchanged(at_version_one)


def test_a_stale_product_tag_gets_the_current_etag(write_api):
    write_api.post(ATLAS, json={"status": "active"})
    write_api.post(ATLAS, json={"status": "paused"})
    stale = write_api.post(ATLAS, json={"status": "blocked"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["ETag"] == '"2"'


def test_if_match_on_a_missing_product_has_no_etag_to_give(write_api):
    for header in ('"1"', "*", '"abc"'):
        response = write_api.post(state_path("Ghost"), json={"status": "paused"}, headers={"If-Match": header})
        assert response.status_code == 412, response.text
        assert "ETag" not in response.headers
    assert write_api.get(state_path("Ghost")).status_code == 404


# -- writes without a version -----------------------------------------------------------------------
# Every other write has no version, so no entity tag can match it (RFC 9110 §13.1.1): If-Match
# other than * is VALIDATION_ERROR naming it and nothing is done; * (the resource exists) is honoured.
DECISIONS = "/api/v1/memory/decisions"
VERSIONED = {(KERNEL, "put"), ("/api/v1/memory/product/{name}/state", "post")}


def _decision(api) -> str:
    made = api.post(DECISIONS, json={"decision": "Temporary", "product_name": "Atlas"})
    assert made.status_code == 201, made.text
    return made.json()["id"]


def _refused_if_match(response) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and list(error["details"]["fields"]) == ["If-Match"], error


@pytest.mark.parametrize("header", ['"nope"', '"1"', "1", 'W/"1"', "yesterday"])
def test_if_match_on_a_delete_without_a_version_is_refused_and_deletes_nothing(write_api, header):
    decision = _decision(write_api)
    _refused_if_match(write_api.delete(f"{DECISIONS}/{decision}", headers={"If-Match": header}))
    assert write_api.get(f"{DECISIONS}/{decision}").status_code == 200


def test_if_match_star_on_a_write_without_a_version_asks_only_that_the_resource_exists(write_api):
    decision = _decision(write_api)
    assert write_api.delete(f"{DECISIONS}/{decision}", headers={"If-Match": "*"}).status_code == 204
    assert write_api.delete(f"{DECISIONS}/{decision}", headers={"If-Match": "*"}).status_code == 404


def test_if_match_on_patch_scope_is_refused_and_changes_nothing(write_api, make_user, client_for):
    owner = client_for(make_user(tier="team"))
    workspace = owner.post("/api/v1/workspaces", json={"name": "Crew", "kind": "team"}).json()["id"]
    headers = {"If-Match": '"1"'}
    _refused_if_match(owner.patch("/api/v1/scope", json={"workspace_id": workspace}, headers=headers))
    assert owner.get("/api/v1/scope").json()["scope"] == "personal"


def test_every_write_refuses_an_if_match_it_cannot_honour_as_documented(client_for, make_user):
    """Asked of the server, for every operation with a write method in the document: a versioned
    one compares the tag and finds no such version (412), every other write has none and refuses
    the header (400), as the If-Match each operation declares says (``enum: ["*"]`` where there is
    no version); one that needs only read scopes (the kernel export's POST) is a read, declares no
    If-Match and ignores it."""
    api = client_for(make_user(tier="team"))
    document = api.get("/api/v1/openapi.json").json()
    reads = set()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/api/v1/") or method not in {"post", "put", "patch", "delete"}:
                continue
            concrete = re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1).endswith("id") else "atlas", path)
            # The kernel reads its body before its version (an empty one is refused first).
            body = None if method == "delete" else {"identity": {"name": "Ada"}} if path == KERNEL else {}
            response = api.request(method.upper(), concrete, json=body, headers={"If-Match": '"nope"'})
            declared = [p for p in operation["parameters"] if p["name"] == "If-Match" and p["in"] == "header"]
            scopes = {scope for option in operation["security"] for scope in option.get("oauth2", ())}
            if scopes and all(scope.endswith(":read") for scope in scopes):
                assert not declared and response.status_code == 200, (path, method, response.text)
                reads.add((path, method))
                continue
            (declared,) = declared
            if (path, method) in VERSIONED:
                assert response.status_code == 412 and "enum" not in declared["schema"], (path, method)
            else:
                _refused_if_match(response)
                assert declared["schema"]["enum"] == ["*"], (path, method)
    assert reads == {("/api/v1/kernel/export", "post")}


# -- reads by POST -----------------------------------------------------------------------------------
# An operation is a write by the scope it needs, not by its method: the kernel export's POST needs
# memory:read, so it ignores If-Match as its GET twin and every read does (README "Conventions").
@pytest.mark.parametrize("header", ['"1"', '"nope"', "yesterday", "*"])
def test_a_read_by_post_ignores_if_match_as_its_get_twin_does(client_for, person, oauth_for, header):
    assert client_for(person).put(KERNEL, json={"identity": {"name": "Ada"}}).status_code == 200
    reader = oauth_for("memory:read")
    headers = {"If-Match": header}

    by_get = reader.get("/api/v1/kernel/export?format=json", headers=headers)
    by_post = reader.post("/api/v1/kernel/export", json={"format": "json"}, headers=headers)

    assert by_get.status_code == 200, by_get.text
    assert by_post.status_code == 200, by_post.text
    assert by_post.json()["sections"] == by_get.json()["sections"]
    assert "Ada" in by_post.text


# -- If-None-Match: one rule on every write ----------------------------------------------------------
# The two versioned writes evaluate it alike (RFC 9110 §13.1.2): a write over a version it names is
# PRECONDITION_FAILED with the current ETag, ``*`` names every version, and a resource not written
# yet (a missing product, a kernel at version 0) matches nothing. Every other write has no version
# to compare, so it refuses the header (VALIDATION_ERROR naming it), never ignores it.
def _writes_unless(api, header):
    headers = {"If-None-Match": header}
    return {
        "kernel": api.put(KERNEL, json={"identity": {"name": "Grace"}}, headers=headers),
        "product": api.post(ATLAS, json={"status": "paused"}, headers=headers),
    }


@pytest.mark.parametrize("header", ["*", '"1"', "1", 'W/"1"', '"7", "1"'])
def test_if_none_match_naming_the_current_version_writes_over_neither_route(at_version_one, header):
    for route, response in _writes_unless(at_version_one, header).items():
        assert response.status_code == 412, (route, response.text)
        error = response.json()["error"]
        assert error["code"] == "PRECONDITION_FAILED" and error["details"] == {"current_version": 1}, route
        assert response.headers["ETag"] == '"1"', route
    _unchanged(at_version_one)
    assert at_version_one.get("/api/v1/memory/identity/history").json()["count"] == 1


@pytest.mark.parametrize("header", ['"2"', '"0", "2"', 'W/"7"'])
def test_if_none_match_naming_another_version_writes_on_both_routes(at_version_one, header):
    for route, response in _writes_unless(at_version_one, header).items():
        assert response.status_code == 200, (route, response.text)
        assert response.headers["ETag"] == '"2"', route


@pytest.mark.parametrize("header", ["*", '"0"'])
def test_if_none_match_lets_the_first_write_through_on_both_routes(write_api, header):
    """A kernel never written (version 0) is, to If-None-Match, a product not created yet."""
    for route, response in _writes_unless(write_api, header).items():
        assert response.status_code in (200, 201), (route, response.text)
        assert response.headers["ETag"] == '"1"', route


@pytest.mark.parametrize("header", ["yesterday", ",", '"1', '*, "1"'])
def test_a_malformed_if_none_match_is_a_validation_error_on_both_routes(at_version_one, header):
    for route, response in _writes_unless(at_version_one, header).items():
        assert response.status_code == 400, (route, response.text)
        assert list(response.json()["error"]["details"]["fields"]) == ["If-None-Match"], route
    _unchanged(at_version_one)


def test_concurrent_first_kernel_writes_with_if_none_match_star_exactly_one_wins(client_for, user):
    one, two = client_for(user), client_for(user)
    barrier = threading.Barrier(2)
    results = {}

    def write(name, api):
        barrier.wait()
        results[name] = api.put(KERNEL, json={"identity": {"name": name}}, headers={"If-None-Match": "*"})

    threads = [threading.Thread(target=write, args=pair) for pair in (("A", one), ("B", two))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.status_code for r in results.values()) == [200, 412], {k: r.text for k, r in results.items()}
    assert one.get(KERNEL).json()["version"] == 1


def _refused_if_none_match(response) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR" and list(error["details"]["fields"]) == ["If-None-Match"], error


@pytest.mark.parametrize("header", ["*", '"1"', 'W/"1"', "yesterday"])
def test_if_none_match_on_a_write_without_a_version_is_refused_and_does_nothing(write_api, header):
    decision = _decision(write_api)
    headers = {"If-None-Match": header}
    _refused_if_none_match(
        write_api.post(DECISIONS, json={"decision": "Refused", "product_name": "Atlas"}, headers=headers)
    )
    _refused_if_none_match(write_api.delete(f"{DECISIONS}/{decision}", headers=headers))
    assert write_api.get(f"{DECISIONS}/{decision}").status_code == 200
    assert write_api.get(f"{DECISIONS}/search?q=Refused").json()["count"] == 0


def test_a_read_ignores_if_none_match(write_api):
    write_api.put(KERNEL, json={"identity": {"name": "Ada"}})
    for response in (
        write_api.get(KERNEL, headers={"If-None-Match": '"1"'}),
        write_api.post("/api/v1/kernel/export", json={"format": "json"}, headers={"If-None-Match": "*"}),
    ):
        assert response.status_code == 200, response.text


def test_every_write_evaluates_or_refuses_if_none_match_as_documented(client_for, make_user):
    """Asked of the server, for every write operation in the document: a versioned one declares
    If-None-Match and evaluates it (412: "nope" names no version, so the write would go through;
    ``*`` on the written kernel/product refuses it), every other write refuses it (400) and its
    400 says so."""
    api = client_for(make_user(tier="team"))
    api.put(KERNEL, json={"identity": {"name": "Ada"}})
    api.post(state_path("atlas"), json={"status": "active"})
    document = api.get("/api/v1/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if not path.startswith("/api/v1/") or method not in {"post", "put", "patch", "delete"}:
                continue
            scopes = {scope for option in operation["security"] for scope in option.get("oauth2", ())}
            if scopes and all(scope.endswith(":read") for scope in scopes):
                continue
            concrete = re.sub(r"\{(\w+)\}", lambda m: str(uuid.uuid4()) if m.group(1).endswith("id") else "atlas", path)
            body = None if method == "delete" else {"identity": {"name": "Grace"}} if path == KERNEL else {}
            response = api.request(method.upper(), concrete, json=body, headers={"If-None-Match": "*"})
            declared = [p for p in operation["parameters"] if p["name"] == "If-None-Match" and p["in"] == "header"]
            if (path, method) in VERSIONED:
                assert response.status_code == 412 and declared, (path, method, response.text)
            else:
                _refused_if_none_match(response)
                assert not declared and "If-None-Match" in operation["responses"]["400"]["description"], (path, method)
