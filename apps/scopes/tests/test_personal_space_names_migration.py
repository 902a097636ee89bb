"""The migration ``scopes.0005_personal_space_names_follow_emails`` renames personal spaces still
named after an address their owner no longer has; workspaces and up-to-date names are left alone."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection

from apps.accounts.models import User
from apps.scopes.models import Space
from apps.scopes.services import space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)


def migrate() -> None:
    migration = importlib.import_module("apps.scopes.migrations.0005_personal_space_names_follow_emails")
    migration.personal_space_names_follow_emails(django_apps, connection.schema_editor())


def test_personal_spaces_left_with_an_old_address_are_named_after_the_current_one(make_user):
    renamed = make_user(email="b@x.test", tier="team")
    User.objects.filter(pk=renamed.pk).update(email="b2@x.test")  # as the admin renamed it before
    long = make_user(email="c@x.test")
    User.objects.filter(pk=long.pk).update(email="l" * 244 + "@x.test.io")
    kept = make_user(email="kept@x.test")
    workspace = workspace_create(owner=renamed, name="b@x.test", kind="team")

    migrate()

    names = {space.owner_id: space.name for space in Space.objects.filter(kind="personal")}
    assert names[renamed.pk] == "b2@x.test"
    assert names[long.pk] == ("l" * 244 + "@x.test.io")[:200]
    assert names[kept.pk] == "kept@x.test"
    assert Space.objects.get(pk=workspace.pk).name == "b@x.test"  # a workspace's name is its own
    assert space_ensure_personal(user=renamed).name == "b2@x.test"
