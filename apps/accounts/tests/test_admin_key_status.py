"""The API keys admin's status says what the API will do with a key: a deactivated account's keys
are refused, so they are not listed as active."""

from __future__ import annotations

from django.urls import reverse

from apps.accounts.models import User


def _listed(staff, **query) -> dict[str, str]:
    """Key name → status, as the key list shows them."""
    changelist = staff.get(reverse("admin:accounts_apikey_changelist"), query).context["cl"]
    return {key.name: changelist.model_admin.status(key) for key in changelist.result_list}


def test_a_key_of_a_deactivated_account_is_not_listed_as_active(staff, make_user, make_key, api):
    kept, gone = make_user(), make_user()
    make_key(kept, name="kept")
    raw = make_key(gone, name="gone")
    User.objects.filter(pk=gone.pk).update(is_active=False)
    assert api.get("/api/v1/scope", token=raw).status_code == 401

    assert _listed(staff) == {"kept": "active", "gone": "owner inactive"}
    assert _listed(staff, status="active") == {"kept": "active"}
    assert _listed(staff, status="inactive") == {"gone": "owner inactive"}

    User.objects.filter(pk=gone.pk).update(is_active=True)  # reactivated: the key works again
    assert api.get("/api/v1/scope", token=raw).status_code == 200
    assert _listed(staff, status="active") == {"kept": "active", "gone": "active"}
