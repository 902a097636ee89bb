"""accounts.0003: addresses stored before every lookup compared the stored form (NFC, lower case)."""

import unicodedata
from importlib import import_module

import pytest
from django.apps import apps

from apps.accounts.models import User
from apps.scopes.models import Space

pytestmark = pytest.mark.django_db
migration = import_module("apps.accounts.migrations.0003_user_email_normal_form")


def _stored_as(user, email: str) -> None:
    """``user``'s address as written before the rule (past ``normalize_username``)."""
    User.objects.filter(pk=user.pk).update(email=email)
    Space.objects.filter(owner=user, kind="personal").update(name=email)


def test_addresses_not_in_the_normal_form_are_normalised_with_their_personal_space(client_for, make_user):
    old = make_user(email="x@x.test")
    _stored_as(old, unicodedata.normalize("NFD", "Ünal@X.test"))
    kept = make_user(email="kept@x.test")

    migration.user_email_normal_form(apps, None)

    assert User.objects.get(pk=old.pk).email == "ünal@x.test"
    assert Space.objects.get(owner=old, kind="personal").name == "ünal@x.test"
    assert User.objects.get(pk=kept.pk).email == "kept@x.test"
    owner = client_for(make_user(tier="team"))
    workspace = owner.post("/api/v1/workspaces", json={"name": "Ops", "kind": "team"}).json()["id"]
    added = owner.post(f"/api/v1/workspaces/{workspace}/members", json={"email": "ÜNAL@x.test", "role": "viewer"})
    assert added.status_code == 201, added.text


def test_two_accounts_that_would_share_an_address_stop_the_migration_unchanged(make_user):
    composed, decomposed = make_user(email="ünal@x.test"), make_user(email="y@x.test")
    _stored_as(decomposed, unicodedata.normalize("NFD", "ünal@x.test"))
    lower = make_user(email="z@x.test")
    _stored_as(lower, "Zed@x.test")

    with pytest.raises(RuntimeError, match="would both be ünal@x.test.*Change one of each in the admin"):
        migration.user_email_normal_form(apps, None)

    assert User.objects.get(pk=lower.pk).email == "Zed@x.test"  # nothing written
    assert User.objects.get(pk=composed.pk).email == "ünal@x.test"
