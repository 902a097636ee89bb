"""Members of a workspace: who can be added, how ids in the path are spelled, and paged reading (SPEC §1, §3)."""

from __future__ import annotations

import unicodedata
import uuid

import pytest

from apps.scopes.models import Membership, Role
from apps.scopes.services import workspace_create


@pytest.fixture
def team_owner(make_user):
    return make_user(tier="team")


@pytest.fixture
def owner_api(client_for, team_owner):
    return client_for(team_owner)


@pytest.fixture
def workspace(team_owner):
    return workspace_create(owner=team_owner, name="Acme", kind="team")


def members_of(workspace) -> str:
    return f"/api/v1/workspaces/{workspace.pk}/members"


def add_members(workspace, users, role=Role.MEMBER) -> None:
    Membership.objects.bulk_create(Membership(space=workspace, user=user, role=role) for user in users)


# -- adding an account by its email -----------------------------------------------------------
@pytest.mark.parametrize(
    ("account", "given"),
    [
        ("jürgen@ex.com", "jürgen@ex.com"),
        ("ünal@bücher.example", "ÜNAL@BÜCHER.example"),  # any case, as for ASCII addresses
        ("ada@example.com", "  ADA@example.com "),  # trimmed
        ("jürgen@ex.com", unicodedata.normalize("NFD", "jürgen@ex.com")),  # NFC: one address
    ],
)
def test_any_email_an_account_has_can_be_added(owner_api, workspace, make_user, account, given):
    member = make_user(email=account)

    added = owner_api.post(members_of(workspace), json={"email": given, "role": "viewer"})

    assert added.status_code == 201, added.text
    assert (added.json()["user_id"], added.json()["email"]) == (str(member.id), account)


@pytest.mark.parametrize(
    "email",
    ["", "   ", "no-at-sign", "@example.com", "someone@", "two@at@example.com", "a b@example.com", "a\x07@x.y"]
    + ["x@" + "e" * 253, 42, None, ["a@b.c"]]
    # Invisible characters (the account would be another one that looks the same).
    + ["ada@example.com\u200b", "\ufeffada@example.com", "a\u00adda@example.com", "ada@exam\u202eple.com"],
)
def test_a_member_email_that_no_account_can_have_is_a_validation_error(owner_api, workspace, email):
    response = owner_api.post(members_of(workspace), json={"email": email, "role": "viewer"})

    assert response.status_code == 400, response.text
    assert set(response.json()["error"]["details"]["fields"]) == {"email"}


@pytest.mark.parametrize(
    ("typed", "given"),
    [
        ("İnga@x.test", "İnga@x.test"),
        ("İnga@x.test", "İNGA@X.TEST"),
        ("ẞig@x.test", "ẞIG@X.TEST"),
        ("ẞig@x.test", "ßig@x.test"),
    ],
)
def test_an_address_whose_case_postgresql_maps_otherwise_finds_its_account(
    owner_api, workspace, make_user, typed, given
):
    # Stored by Python's lower() (İ → i + U+0307, ẞ → ß), which PostgreSQL's UPPER() does not undo:
    # the address as typed when the account was made was "No account has that email address".
    member = make_user(email=typed)

    added = owner_api.post(members_of(workspace), json={"email": given, "role": "viewer"})

    assert added.status_code == 201, added.text
    assert added.json()["user_id"] == str(member.id)


def test_a_well_formed_email_without_an_account_is_not_found(owner_api, workspace):
    response = owner_api.post(members_of(workspace), json={"email": "nobödy@example.com", "role": "viewer"})

    assert response.status_code == 404 and response.json()["error"]["code"] == "NOT_FOUND"


# -- ids in the path, spelled as the scope header takes them ----------------------------------
def _spellings(pk: uuid.UUID) -> list[str]:
    return [str(pk).upper(), pk.hex, pk.hex.upper(), f"{{{pk}}}"]


def test_a_workspace_id_in_the_path_takes_every_spelling_of_the_header(owner_api, workspace):
    for spelling in _spellings(workspace.pk):
        detail = owner_api.get(f"/api/v1/workspaces/{spelling}")
        assert detail.status_code == 200, (spelling, detail.text)
        assert detail.json()["id"] == str(workspace.pk)
        assert owner_api.get(f"/api/v1/workspaces/{spelling}/members").status_code == 200, spelling


def test_a_member_id_in_the_path_takes_every_spelling_of_the_header(owner_api, workspace, make_user):
    for index in range(4):
        member = make_user()
        add_members(workspace, [member])
        wid, uid = _spellings(workspace.pk)[index], _spellings(member.pk)[index]
        removed = owner_api.delete(f"/api/v1/workspaces/{wid}/members/{uid}")
        assert removed.status_code == 204, (uid, removed.text)
        assert not Membership.objects.filter(space=workspace, user=member).exists()


@pytest.mark.parametrize("bad", ["nope", "395cd49b-0149-416f-84e6", "%20"])
def test_an_unparsable_id_in_the_path_is_not_found_in_the_envelope(owner_api, workspace, bad):
    for method, path, message in [
        ("GET", f"/api/v1/workspaces/{bad}", "No such workspace."),
        ("GET", f"/api/v1/workspaces/{bad}/members", "No such workspace."),
        ("POST", f"/api/v1/workspaces/{bad}/members", "No such workspace."),
        ("DELETE", f"/api/v1/workspaces/{bad}/members/{uuid.uuid4()}", "No such workspace."),
        ("DELETE", f"{members_of(workspace)}/{bad}", "No such member."),
    ]:
        body = {"email": "a@example.com", "role": "viewer"} if method == "POST" else None
        response = owner_api.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        error = response.json()["error"]
        assert (error["code"], error["message"]) == ("NOT_FOUND", message), (method, path)


# -- reading members: paged, bounded inline ---------------------------------------------------
@pytest.fixture
def crowded(workspace, make_user):
    """The workspace with its owner and 24 more members (25 in all)."""
    add_members(workspace, [make_user() for _ in range(24)])
    return workspace


def test_members_are_listed_a_page_at_a_time_in_joining_order(owner_api, crowded):
    first = owner_api.get(members_of(crowded))
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["count"], body["limit"], body["offset"], body["next_offset"]) == (25, 20, 0, 20)
    assert len(body["results"]) == 20 and body["results"][0]["role"] == "owner"
    rest = owner_api.get(members_of(crowded), params={"offset": body["next_offset"], "limit": "100"}).json()
    assert (len(rest["results"]), rest["next_offset"]) == (5, None)
    everyone = body["results"] + rest["results"]
    expected = Membership.objects.filter(space=crowded).order_by("created_at", "user_id")
    assert [m["user_id"] for m in everyone] == [str(m.user_id) for m in expected]
    assert set(everyone[0]) == {"user_id", "email", "name", "role", "joined_at"}


def test_the_workspace_shows_its_first_page_of_members_and_their_count(owner_api, crowded):
    detail = owner_api.get(f"/api/v1/workspaces/{crowded.pk}").json()
    listed = owner_api.get(members_of(crowded)).json()

    assert detail["member_count"] == 25
    assert detail["members"] == listed["results"]


@pytest.mark.parametrize("params", [{"limit": "0"}, {"limit": "101"}, {"offset": "-1"}, {"page": "2"}])
def test_member_paging_bad_input(owner_api, workspace, params):
    response = owner_api.get(members_of(workspace), params=params)

    assert response.status_code == 400 and set(response.json()["error"]["details"]["fields"]) == set(params)


def test_only_members_read_the_members(owner_api, workspace, client_for, make_user):
    viewer, outsider = make_user(), make_user()
    add_members(workspace, [viewer], role=Role.VIEWER)
    assert client_for(viewer).get(members_of(workspace)).json()["count"] == 2
    foreign = client_for(outsider).get(members_of(workspace))
    assert foreign.status_code == 404 and foreign.json()["error"]["code"] == "NOT_FOUND"
    assert viewer.email not in foreign.text
    assert client_for(make_user()).get(f"/api/v1/workspaces/{uuid.uuid4()}/members").status_code == 404


def test_a_write_only_token_reads_no_members(person, oauth_for):
    person.tier = "team"
    person.save(update_fields=["tier"])
    workspace = workspace_create(owner=person, name="Studio", kind="team")
    response = oauth_for("memory:write").get(members_of(workspace))

    assert response.status_code == 403, response.text


def test_member_list_query_count_is_flat(inproc_for, team_owner, crowded, django_assert_num_queries):
    client = inproc_for(team_owner)
    client.get(members_of(crowded))  # warm: the key's last-used stamp and this minute's counters exist
    # the key lookup (which also counts the request and reads the context stamp), the caller's
    # membership, the page with its count
    with django_assert_num_queries(3):
        response = client.get(members_of(crowded))
    assert response.status_code == 200 and len(response.json()["results"]) == 20
