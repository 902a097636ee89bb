"""The admin's history is the audit trail: every revocation is in it with the staff member who
made it, and it outlives nothing it records being deleted, the staff account included."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_access_token_model, get_refresh_token_model

from apps.accounts.models import ApiKey, User
from apps.accounts.services import api_key_create, user_create, users_delete
from conftest import ADMIN_PASSWORD as PASSWORD
from synchronex.api import errors
from tests.test_admin import _oauth_flow

pytestmark = pytest.mark.django_db

AccessToken = get_access_token_model()
RefreshToken = get_refresh_token_model()


def _entries(staff_user, model) -> list[tuple]:
    return list(
        LogEntry.objects.filter(user=staff_user, content_type__model=model._meta.model_name)
        .order_by("object_id")
        .values_list("action_flag", "object_id", "object_repr", "change_message")
    )


def test_revoking_oauth_tokens_is_in_the_admin_history_with_the_staff_member(superuser, staff):
    """*Revoke selected tokens* left no record of who ended a user's OAuth sessions, or when."""
    owner = user_create(email="owner@example.com", password=PASSWORD)
    _oauth_flow(Client(), owner)
    _oauth_flow(Client(), owner)
    first, second = RefreshToken.objects.select_related("access_token", "application").order_by("pk")

    changelist = reverse("admin:oauth2_provider_refreshtoken_changelist")
    staff.post(changelist, {"action": "revoke_selected", "_selected_action": [str(first.pk)]})
    access = first.access_token
    app = first.application
    assert _entries(superuser, RefreshToken) == [(CHANGE, str(first.pk), str(first), "Revoked the token.")]
    # The access token is deleted with its own history: its entry names whose it was, and for which app.
    assert _entries(superuser, AccessToken) == [
        (DELETION, str(access.pk), f"{access} of owner@example.com for {app}", "Revoked the token.")
    ]
    history = staff.get(reverse("admin:oauth2_provider_refreshtoken_history", args=[first.pk])).content.decode()
    assert "Revoked the token." in history and "root@example.com" in history

    LogEntry.objects.all().delete()
    access = second.access_token
    changelist = reverse("admin:oauth2_provider_accesstoken_changelist")
    staff.post(changelist, {"action": "revoke_selected", "_selected_action": [str(access.pk)]})
    assert _entries(superuser, RefreshToken) == [(CHANGE, str(second.pk), str(second), "Revoked the token.")]
    assert _entries(superuser, AccessToken) == [
        (DELETION, str(access.pk), f"{access} of owner@example.com for {second.application}", "Revoked the token.")
    ]

    # Revoking what is already revoked ends nothing, and logs nothing.
    LogEntry.objects.all().delete()
    staff.post(
        reverse("admin:oauth2_provider_refreshtoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [str(first.pk), str(second.pk)]},
    )
    assert not LogEntry.objects.exists()


def _key_revoker() -> User:
    """A staff member allowed to change keys, who revoked one (an entry of the admin's history)."""
    person = user_create(email="changekeys@example.com", password=PASSWORD, is_staff=True)
    person.user_permissions.set(Permission.objects.filter(codename__in=["view_apikey", "change_apikey"]))
    client = Client()
    client.force_login(person)
    customer = user_create(email="customer@example.com")
    key, _ = api_key_create(user=customer, name="laptop")
    changelist = reverse("admin:accounts_apikey_changelist")
    client.post(changelist, {"action": "revoke", "_selected_action": [str(key.pk)]})
    assert ApiKey.objects.get(pk=key.pk).revoked_at is not None
    return person


def test_a_staff_account_with_admin_history_is_not_deleted_with_it(staff):
    """Deleting a staff member deleted every entry they wrote (Django's log entries go with their
    author): the keys they revoked were left with no history."""
    person = _key_revoker()
    trail = list(LogEntry.objects.filter(user=person).values_list("pk", flat=True))
    assert len(trail) == 1
    delete = reverse("admin:accounts_user_delete", args=[person.pk])

    page = staff.get(delete)
    assert page.status_code == 200
    assert page.context["protected"] == [
        "Admin history written by changekeys@example.com: 1 entry, the audit trail, which deleting the "
        "account would delete. Deactivate the account instead (untick Active)."
    ]
    assert 'name="post"' not in page.content.decode()  # no confirm button
    assert staff.post(delete, {"post": "yes"}).status_code == 200  # the same page again
    changelist = reverse("admin:accounts_user_changelist")
    selected = {"action": "delete_selected", "_selected_action": [str(person.pk)], "post": "yes"}
    assert "Admin history written by changekeys@example.com" in staff.post(changelist, selected).content.decode()
    assert User.objects.filter(pk=person.pk).exists()
    assert list(LogEntry.objects.filter(user=person).values_list("pk", flat=True)) == trail
    with pytest.raises(errors.Conflict):
        users_delete(users=User.objects.filter(pk=person.pk))  # whoever else would delete it

    # Deactivated instead: the account is refused, its history stays.
    person.is_active = False
    person.save(update_fields=["is_active"])
    assert list(LogEntry.objects.filter(user=person).values_list("pk", flat=True)) == trail


def test_an_account_without_admin_history_is_still_deleted(staff):
    person = user_create(email="idle-staff@example.com", password=PASSWORD, is_staff=True)
    assert staff.post(reverse("admin:accounts_user_delete", args=[person.pk]), {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=person.pk).exists()


def test_a_staff_member_deleting_their_own_account_is_refused_not_a_500(superuser, staff):
    """Deleting oneself writes the deletion's own history entry, with oneself as its author, before
    the delete: the delete then met that entry and refused (CONFLICT), answered as a 500, from the
    delete page and from *Delete selected* alike, with other accounts in the selection or not.
    The page says so instead, as for an account with history, and deletes nothing."""
    assert not LogEntry.objects.filter(user=superuser).exists()
    other = user_create(email="other@example.com")
    delete = reverse("admin:accounts_user_delete", args=[superuser.pk])

    page = staff.get(delete)
    assert page.status_code == 200
    assert page.context["protected"] == [
        "Your own account (root@example.com): its delete would be written in the admin's history under "
        "your name, and that entry deleted with it. Another administrator can delete it, or deactivate it."
    ]
    assert 'name="post"' not in page.content.decode()  # no confirm button
    assert staff.post(delete, {"post": "yes"}).status_code == 200  # the same page again
    changelist = reverse("admin:accounts_user_changelist")
    selected = {"action": "delete_selected", "_selected_action": [str(superuser.pk), str(other.pk)], "post": "yes"}
    answer = staff.post(changelist, selected)
    assert answer.status_code == 200 and "Your own account (root@example.com)" in answer.content.decode()
    assert User.objects.filter(pk__in=[superuser.pk, other.pk]).count() == 2
    assert not LogEntry.objects.exists()

    # Another administrator deletes it.
    colleague = user_create(email="colleague@example.com", password=PASSWORD, is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(colleague)
    assert client.post(delete, {"post": "yes"}).status_code == 302
    assert not User.objects.filter(pk=superuser.pk).exists()
    assert LogEntry.objects.filter(user=colleague, action_flag=DELETION, object_id=str(superuser.pk)).exists()
