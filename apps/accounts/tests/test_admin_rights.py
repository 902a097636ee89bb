"""What staff who are not superusers can do to rights, passwords and key names through the admin."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse

from apps.accounts.models import ApiKey, User
from apps.accounts.services import KEY_NAME_CONTROL_CHARACTERS, api_key_create, user_create
from conftest import ADMIN_PASSWORD as PASSWORD
from tests.support.quota import wait_for_fresh_ip_window

pytestmark = pytest.mark.django_db

GRANTS = [("accounts", "change_user"), ("byok", "view_byokcredential"), ("scopes", "delete_space")]


def _permissions(*pairs) -> list[Permission]:
    return [Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in pairs]


def _staff_in_group(*codenames: str) -> tuple[User, Group, Client]:
    """A staff member whose only rights come from a group holding ``codenames`` (of auth.Group)."""
    group = Group.objects.create(name="group keepers")
    group.permissions.set(_permissions(*(("auth", codename) for codename in codenames)))
    person = user_create(email="keeper@example.com", password=PASSWORD, is_staff=True)
    person.groups.add(group)
    client = Client()
    client.force_login(person)
    return person, group, client


def test_staff_who_may_change_groups_cannot_grant_their_group_rights(make_user):
    """The probe's escalation: change_group on one's own group was enough to add change_user to it,
    then set a customer's password."""
    person, group, client = _staff_in_group("view_group", "change_group", "add_group", "delete_group")
    held = set(group.permissions.values_list("pk", flat=True))
    url = reverse("admin:auth_group_change", args=[group.pk])

    page = client.get(url)
    assert page.status_code == 200  # still theirs to look at
    assert 'name="permissions"' not in page.content.decode()
    raised = [str(p.pk) for p in _permissions(*GRANTS)] + [str(pk) for pk in held]
    assert client.post(url, {"name": group.name, "permissions": raised}).status_code == 403
    assert set(group.permissions.values_list("pk", flat=True)) == held

    assert client.post(reverse("admin:auth_group_add"), {"name": "new", "permissions": raised}).status_code == 403
    assert client.post(reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"}).status_code == 403
    assert list(Group.objects.values_list("name", flat=True)) == ["group keepers"]

    # So none of what the probe reached afterwards.
    victim = make_user(password="the victim's own 42!")
    assert client.get(reverse("admin:accounts_user_changelist")).status_code == 403
    assert client.get(reverse("admin:byok_byokcredential_changelist")).status_code == 403
    new = {"password1": "hijacked password 42!", "password2": "hijacked password 42!", "usable_password": "true"}
    assert client.post(reverse("admin:auth_user_password_change", args=[victim.pk]), new).status_code == 403
    victim.refresh_from_db()
    assert victim.check_password("the victim's own 42!")


def test_a_superuser_still_manages_groups(staff):
    group = Group.objects.create(name="support")
    url = reverse("admin:auth_group_change", args=[group.pk])
    assert 'name="permissions"' in staff.get(url).content.decode()
    granted = [str(p.pk) for p in _permissions(*GRANTS)]
    assert staff.post(url, {"name": "support", "permissions": granted}).status_code == 302
    assert group.permissions.count() == len(GRANTS)
    assert staff.post(reverse("admin:auth_group_add"), {"name": "auditors"}).status_code == 302
    assert staff.post(reverse("admin:auth_group_delete", args=[group.pk]), {"post": "yes"}).status_code == 302


def test_rights_are_edited_only_on_the_user_and_group_pages():
    """Permissions themselves are not in the admin, and no other page edits a relation to a group
    or a permission (the user page shows them read-only to other staff)."""
    assert not admin.site.is_registered(Permission)
    for model in admin.site._registry:
        if model in (User, Group):
            continue
        related = {field.related_model for field in model._meta.get_fields() if field.is_relation}
        assert not related & {Permission, Group}, model


def test_the_admins_password_change_shares_the_login_throttle(settings):
    """Anyone holding a staff session could otherwise guess the current password without limit."""
    settings.LOGIN_RATE = "2/m"
    wait_for_fresh_ip_window(5)
    _, _, client = _staff_in_group("view_group")
    url = reverse("admin:password_change")
    assert client.get(url).status_code == 200  # looking is not a guess
    guesses = [
        client.post(url, {"old_password": f"guess{n}", "new_password1": "x", "new_password2": "x"}) for n in range(3)
    ]
    assert [answer.status_code for answer in guesses] == [200, 200, 429]
    assert 1 <= int(guesses[2].headers["Retry-After"]) <= 60
    assert Client().post("/accounts/login/", {"username": "keeper@example.com", "password": "x"}).status_code == 429


@pytest.mark.parametrize("name", ["evil\x1b[31mred\u202e", "bell\x07", "c1\x85x"])
def test_the_admin_refuses_a_key_name_with_a_control_character(staff, make_user, name):
    key, _ = api_key_create(user=make_user(), name="laptop", scope="read")
    response = staff.post(reverse("admin:accounts_apikey_change", args=[key.pk]), {"name": name})
    assert response.status_code == 200
    assert KEY_NAME_CONTROL_CHARACTERS in response.content.decode()
    assert ApiKey.objects.get(pk=key.pk).name == "laptop"
