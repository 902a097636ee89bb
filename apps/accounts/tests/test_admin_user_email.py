"""The admin's user page keeps the accounts' one address rule (the members API's and
``create_api_key``'s): any script, NFC, stored in lower case, one account per address in any case.
A personal space is named after its owner's current address."""

from __future__ import annotations

from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command
from django.urls import reverse

from apps.accounts.models import User
from apps.scopes.models import Space
from tests.support.admin_forms import form_data

EMAIL_TAKEN = "An account with this email already exists."


def _change(staff, user, *, untick=(), **fields):
    """Post the user's change form back with ``fields`` changed and the boxes ``untick`` cleared."""
    url = reverse("admin:accounts_user_change", args=[user.pk])
    data = {**form_data(staff.get(url)), **fields}
    for name in untick:
        data.pop(name, None)
    return staff.post(url, data)


def _add(staff, email: str):
    password = "a long enough password 42!"
    data = {"email": email, "tier": "free", "usable_password": "true", "password1": password, "password2": password}
    return staff.post(reverse("admin:accounts_user_add"), data)


def _errors(response) -> str:
    assert response.status_code == 200, response.status_code
    return str(response.context["adminform"].form.errors)


@pytest.mark.django_db
def test_any_change_to_an_account_whose_address_has_a_non_ascii_local_part_is_saved(staff):
    # Made as the README says accounts may be; every save of its page was "Enter a valid email address."
    call_command(
        "create_api_key", "--email", "jürgen@example.com", "--scope", "write", "--create-user", stdout=StringIO()
    )
    user = User.objects.get(email="jürgen@example.com")

    assert _change(staff, user, tier="team", daily_limit="5").status_code == 302
    assert _change(staff, user, untick=["is_active"]).status_code == 302

    user.refresh_from_db()
    assert (user.email, user.tier, user.daily_limit, user.is_active) == ("jürgen@example.com", "team", 5, False)


def test_an_account_renamed_in_the_admin_to_a_non_ascii_address_is_found_by_the_members_api(
    staff, make_user, client_for
):
    user = make_user(email="c@x.test")

    assert _change(staff, user, email=" Zoë@Example.org ").status_code == 302

    user.refresh_from_db()
    assert user.email == "zoë@example.org"
    owner = client_for(make_user(tier="team"))
    workspace = owner.post("/api/v1/workspaces", json={"name": "Ops", "kind": "team"}).json()["id"]
    added = owner.post(f"/api/v1/workspaces/{workspace}/members", json={"email": "ZOË@example.org", "role": "member"})
    assert added.status_code == 201, added.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("a b@x.test", "one @ with text on both sides"),
        ("x@y@z", "one @ with text on both sides"),
        ("nobody", "one @ with text on both sides"),
        ("new@x.test\u200b", "U+200B"),
    ],
    ids=["space", "two-at", "no-at", "zwsp"],
)
def test_the_admin_refuses_an_address_the_members_api_refuses(staff, make_user, email, reason):
    user = make_user(email="c@x.test")

    assert reason in _errors(_change(staff, user, email=email))
    assert reason in _errors(_add(staff, email))

    user.refresh_from_db()
    assert user.email == "c@x.test"
    assert User.objects.count() == 2  # the superuser and ``user``


@pytest.mark.django_db
def test_an_address_typed_in_the_admin_is_stored_in_lower_case_for_changepassword(staff, make_user):
    # README: "manage.py changepassword you@example.com (the address as stored: lower case)".
    assert _add(staff, " MiXeD@X.Test ").status_code == 302
    renamed = make_user(email="b@x.test")
    assert _change(staff, renamed, email="B2@X.Test").status_code == 302

    assert set(User.objects.filter(email__in=["mixed@x.test", "b2@x.test"]).values_list("email", flat=True)) == {
        "mixed@x.test",
        "b2@x.test",
    }
    new = "a new password for changepassword 42"
    for email in ("mixed@x.test", "b2@x.test"):
        with mock.patch("getpass.getpass", return_value=new):
            call_command("changepassword", email, stdout=StringIO())
        assert User.objects.get(email=email).check_password(new)


@pytest.mark.django_db
def test_an_address_taken_in_another_case_is_a_form_error_not_a_constraint_name(staff, make_user):
    make_user(email="taken@x.test")
    other = make_user(email="other@x.test")

    for response in (_change(staff, other, email="TAKEN@x.test"), _add(staff, "Taken@X.test")):
        errors = _errors(response)
        assert EMAIL_TAKEN in errors and "user_email_ci_unique" not in errors

    other.refresh_from_db()
    assert other.email == "other@x.test"


@pytest.mark.django_db
def test_a_personal_space_is_named_after_its_owners_address_after_a_rename(staff, make_user):
    # A rectified address left the old one in the space list, the memory overview and admin searches.
    user = make_user(email="a@x.test")
    assert Space.objects.get(owner=user, kind="personal").name == "a@x.test"

    assert _change(staff, user, email="alice.new@x.test").status_code == 302

    assert Space.objects.get(owner=user, kind="personal").name == "alice.new@x.test"
    page = staff.get(reverse("admin:accounts_user_change", args=[user.pk])).content.decode()
    assert "Memory overview: alice.new@x.test (personal)" in page and "a@x.test" not in page
    found = staff.get(reverse("admin:scopes_space_changelist"), {"q": "a@x.test"})
    assert found.context["cl"].result_count == 0
