"""``GET /memory/identity?layer=own``: the active scope's own layer, the base of a read-modify-write.

In a workspace scope the default read is the effective kernel (the caller's personal layer under
the workspace layer), while PUT replaces sections of the workspace layer: a section read from the
effective kernel and written back copied the member's personal items to every member.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/memory/identity"
HISTORY = "/api/v1/memory/identity/history"
PERSONAL_SECRETS = ("Carol", "Side Hustle", "mention my divorce", "c-personal", "c-private-model", "Side project")


@pytest.fixture
def team(make_user, client_for):
    """An owner with a team workspace, a member in it, and an outsider."""
    owner, member, outsider = (make_user(tier="team") for _ in range(3))
    owner_api = client_for(owner)
    created = owner_api.post("/api/v1/workspaces", json={"name": "Team R2", "kind": "team"})
    assert created.status_code == 201, created.text
    workspace_id = created.json()["id"]
    added = owner_api.post(f"/api/v1/workspaces/{workspace_id}/members", json={"email": member.email, "role": "member"})
    assert added.status_code in (200, 201), added.text
    return {
        "header": {"X-Synchronex-Scope": workspace_id},
        "owner": owner_api,
        "member": client_for(member),
        "outsider": client_for(outsider),
    }


def _member_personal_layer(member) -> None:
    written = member.put(
        URL,
        json={
            "identity": {"name": "Carol", "company": "Side Hustle LLC"},
            "constraints": {"never": ["mention my divorce"], "always": ["c-personal"]},
            "model_preferences": {"default_model": "c-private-model"},
            "products": [{"name": "Side project"}],
        },
        headers={"X-Synchronex-Scope": "personal"},
    )
    assert written.status_code == 200, written.text


def test_a_read_modify_write_from_the_own_layer_never_copies_personal_items(team):
    owner, member, header = team["owner"], team["member"], team["header"]
    _member_personal_layer(member)
    assert owner.put(URL, json={"constraints": {"always": ["use British English"]}}, headers=header).status_code == 200

    # The effective kernel merges the personal layer in (the trap): the own layer does not.
    effective = member.get(URL, headers=header)
    assert "mention my divorce" in effective.text
    read = member.get(URL, params={"layer": "own"}, headers=header)
    assert read.status_code == 200, read.text
    body = read.json()
    assert read.headers["ETag"] == effective.headers["ETag"] == '"1"' and body["version"] == 1
    assert body["scope"] == "team"
    assert body["constraints"] == {"always": ["use British English"], "never": None, "communication_style": None}
    assert body["identity"] is None and body["products"] is None and body["model_preferences"] is None
    assert "use British English" in body["injection_block"]
    assert not any(secret in read.text for secret in PERSONAL_SECRETS)
    # The same layer when JSON is asked for with parameters (rendered per request, not remembered).
    indented = member.get(URL, params={"layer": "own"}, headers={**header, "Accept": "application/json; indent=2"})
    assert indented.json() == body and indented.headers["ETag"] == '"1"'

    # The documented pattern: modify what ?layer=own answered, write it back with its ETag.
    body["constraints"]["always"].append("write tests first")
    written = member.put(
        URL, json={"constraints": body["constraints"]}, headers={**header, "If-Match": read.headers["ETag"]}
    )
    assert written.status_code == 200 and written.headers["ETag"] == '"2"', written.text

    layer = owner.get(URL, params={"layer": "own"}, headers=header)
    assert layer.json()["constraints"]["always"] == ["use British English", "write tests first"]
    assert layer.json()["constraints"]["never"] is None and layer.headers["ETag"] == '"2"'
    seen_by_owner = owner.get(URL, headers=header).text
    snapshot = str(owner.get(HISTORY, headers=header).json()["results"][0]["snapshot"])
    for text in (layer.text, seen_by_owner, snapshot):
        assert not any(secret in text for secret in PERSONAL_SECRETS), text


def test_the_own_layer_has_its_own_updated_at(team):
    owner, member, header = team["owner"], team["member"], team["header"]
    owner.put(URL, json={"identity": {"company": "Studio"}}, headers=header)
    before = member.get(URL, params={"layer": "own"}, headers=header).json()
    _member_personal_layer(member)
    effective = member.get(URL, headers=header).json()
    own = member.get(URL, params={"layer": "own"}, headers=header).json()
    assert effective["updated_at"] > before["updated_at"]  # the personal write moved the merged kernel
    assert own == before  # and not the workspace layer


def test_the_own_layer_never_shows_another_members_personal_layer(team):
    owner, member, outsider, header = team["owner"], team["member"], team["outsider"], team["header"]
    _member_personal_layer(member)
    empty = owner.get(URL, params={"layer": "own"}, headers=header)
    assert empty.status_code == 200 and empty.headers["ETag"] == '"0"'
    assert {key: empty.json()[key] for key in ("identity", "products", "constraints", "model_preferences")} == {
        "identity": None,
        "products": None,
        "constraints": None,
        "model_preferences": None,
    }
    assert (empty.json()["version"], empty.json()["updated_at"], empty.json()["injection_block"]) == (0, None, "")
    owner.put(URL, json={"identity": {"name": "Owner secret name"}}, headers={"X-Synchronex-Scope": "personal"})
    owner.put(URL, json={"constraints": {"never": ["Share client data"]}}, headers=header)
    for client in (owner, member):
        text = client.get(URL, params={"layer": "own"}, headers=header).text
        assert "Share client data" in text
        assert "Owner secret name" not in text and not any(secret in text for secret in PERSONAL_SECRETS)
    refused = outsider.get(URL, params={"layer": "own"}, headers=header)
    assert refused.status_code == 404 and refused.json()["error"]["code"] == "NOT_FOUND"
    assert "Share client data" not in outsider.get(URL, params={"layer": "own"}).text


def test_in_the_personal_scope_the_own_layer_is_the_effective_kernel(write_api):
    write_api.put(URL, json={"identity": {"name": "Ada"}, "constraints": {"always": ["Be brief"]}})
    effective, own = write_api.get(URL), write_api.get(URL, params={"layer": "own"})
    assert own.status_code == 200 and own.json() == effective.json()
    assert own.headers["ETag"] == effective.headers["ETag"] == '"1"'
    assert write_api.get(URL, params={"layer": "effective"}).json() == effective.json()


@pytest.mark.parametrize("value", ["", "workspace", "OWN", "own ", "personal", "1"])
def test_another_layer_is_a_validation_error_naming_it(read_api, value):
    response = read_api.get(URL, params={"layer": value})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert error["details"]["fields"] == {"layer": ["Use one of: effective, own."]}


def test_a_repeated_layer_or_an_unknown_parameter_is_named_with_it(read_api):
    repeated = read_api.get(URL + "?layer=own&layer=effective")
    assert repeated.status_code == 400
    assert repeated.json()["error"]["details"]["fields"] == {"layer": ["Give this parameter at most once."]}
    both = read_api.get(URL, params={"layer": "mine", "bogus": "1"})
    assert both.status_code == 400
    assert both.json()["error"]["details"]["fields"] == {
        "bogus": ["Unknown query parameter."],
        "layer": ["Use one of: effective, own."],
    }


def test_put_with_the_own_layer_answers_the_layer_it_wrote(team):
    """PUT takes ``?layer=own`` too: its answer is then the workspace layer just written, so a client
    editing again from PUT's answer stays on that layer (the default answer merges the personal one in)."""
    owner, member, header = team["owner"], team["member"], team["header"]
    _member_personal_layer(member)
    owner.put(URL, json={"constraints": {"always": ["use British English"]}}, headers=header)

    merged = member.put(URL, json={"identity": {"company": "Studio"}}, headers=header)
    assert merged.status_code == 200 and "mention my divorce" in merged.text  # the default answer: the trap
    written = member.put(
        URL,
        params={"layer": "own"},
        json={"identity": {"company": "Studio Ltd"}},
        headers={**header, "If-Match": '"2"'},
    )
    assert written.status_code == 200, written.text
    body = written.json()
    assert written.headers["ETag"] == '"3"' and body["version"] == 3 and body["scope"] == "team"
    assert not any(secret in written.text for secret in PERSONAL_SECRETS)
    assert body["constraints"] == {"always": ["use British English"], "never": None, "communication_style": None}
    own = member.get(URL, params={"layer": "own"}, headers=header)
    assert own.json() == body and own.headers["ETag"] == written.headers["ETag"]

    # Editing again from PUT's answer leaves every member's layer without the member's personal items.
    body["constraints"]["always"].append("write tests first")
    again = member.put(
        URL,
        params={"layer": "own"},
        json={"constraints": body["constraints"], "identity": body["identity"]},
        headers={**header, "If-Match": written.headers["ETag"]},
    )
    assert again.status_code == 200 and again.json()["constraints"]["always"][-1] == "write tests first"
    layer = owner.get(URL, params={"layer": "own"}, headers=header).text
    assert not any(secret in layer for secret in PERSONAL_SECRETS), layer

    effective = member.put(URL, params={"layer": "effective"}, json={"identity": body["identity"]}, headers=header)
    assert effective.status_code == 200 and effective.json() == member.get(URL, headers=header).json()


def test_put_with_the_own_layer_in_the_personal_scope_answers_as_without(write_api):
    own = write_api.put(URL, params={"layer": "own"}, json={"identity": {"name": "Ada"}})
    assert own.status_code == 200 and own.json() == write_api.get(URL).json()
    assert own.headers["ETag"] == '"1"'


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("?layer=ownn", {"layer": ["Use one of: effective, own."]}),
        ("?layer=own&layer=own", {"layer": ["Give this parameter at most once."]}),
        ("?layer=own&bogus=1", {"bogus": ["Unknown query parameter."]}),
    ],
)
def test_put_with_another_layer_is_refused_and_writes_nothing(write_api, query, fields):
    response = write_api.put(URL + query, json={"identity": {"name": "Ada"}})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert response.json()["error"]["details"]["fields"] == fields
    assert write_api.get(URL).json()["version"] == 0


def test_a_write_only_token_is_answered_what_it_wrote_whatever_the_layer(oauth_for):
    writer = oauth_for("memory:write")
    response = writer.put(URL, params={"layer": "own"}, json={"identity": {"role": "cto"}})
    assert response.status_code == 200, response.text
    assert "injection_block" not in response.json() and response.json()["identity"]["role"] == "cto"
