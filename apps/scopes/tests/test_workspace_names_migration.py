"""The migration ``scopes.0004_workspace_names_under_the_rule`` brings workspace names stored before
the name rule under it: invisible characters at the ends trimmed, inside removed, NFC; a name of
invisible characters alone becomes ``Unnamed workspace``. Rows are written the old way (ORM), read
back over the API."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import connection

from apps.scopes.models import Space
from apps.scopes.services import space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)

# Names the rule keeps as they are: VS16 after an emoji, a flag's tag sequence, ZWNJ inside.
KEPT = [
    "Love \u2764\ufe0f",
    "Alba \U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
    "Ka\u200cfe",
    "Plain team",
]
MAPPED = {
    "\u00c9quipe Alpha\u200b": "\u00c9quipe Alpha",
    "Team\u202eevil": "Teamevil",
    "\ufeffBom": "Bom",
    "Cafe\u0301": "Caf\u00e9",
    "Ze\u00adta": "Zeta",
    "\u200b\u2060": "Unnamed workspace",
}


def migrate() -> None:
    migration = importlib.import_module("apps.scopes.migrations.0004_workspace_names_under_the_rule")
    migration.workspace_names_under_the_rule(django_apps, connection.schema_editor())


def test_stored_workspace_names_are_brought_under_the_rule(write_api, user):
    user.tier = "team"
    user.save(update_fields=["tier"])
    stored = {}
    for name in [*MAPPED, *KEPT]:
        workspace = workspace_create(owner=user, name="placeholder", kind="team")
        Space.objects.filter(pk=workspace.pk).update(name=name)  # as an older release stored it
        stored[name] = workspace.pk
    personal = space_ensure_personal(user=user)
    personal_name = personal.name

    migrate()

    names = dict(Space.objects.values_list("pk", "name"))
    for old, new in MAPPED.items():
        assert names[stored[old]] == new, old
    for kept in KEPT:
        assert names[stored[kept]] == kept
    assert names[personal.pk] == personal_name
    listed = {row["id"]: row["name"] for row in write_api.get("/api/v1/workspaces").json()["results"]}
    assert listed[str(stored["\u00c9quipe Alpha\u200b"])] == "\u00c9quipe Alpha"
    # Running it again changes nothing.
    migrate()
    assert dict(Space.objects.values_list("pk", "name")) == names
