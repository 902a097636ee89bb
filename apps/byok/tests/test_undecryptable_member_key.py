"""A BYOK key that no configured Fernet key decrypts fails the reads of its own scope only: a
member's personal key is left out of a workspace's redaction (with a warning naming it), so the
workspace's other members keep reading it; the workspace's own key still fails its reads."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings

from apps.byok.services import byok_credential_create
from apps.byok.tests.helpers import fresh_key, new_fernet_key
from apps.identity.services import kernel_update
from apps.scopes.models import Membership
from apps.scopes.services import member_put, space_ensure_personal, workspace_create

pytestmark = pytest.mark.django_db(transaction=True)

IDENTITY = "/api/v1/memory/identity"


def lost_key(space):
    """A credential of ``space`` encrypted under a Fernet key this process does not have."""
    key = fresh_key("anthropic")
    with override_settings(FERNET_KEYS=[new_fernet_key()]):
        return byok_credential_create(space=space, service="anthropic", label="Lost", key=key), key


@pytest.fixture
def team(make_user):
    owner, member = make_user(tier="team"), make_user(tier="pro")
    workspace = workspace_create(owner=owner, name="Acme", kind="team")
    kernel_update(space=workspace, changes={"constraints": {"always": ["Ship small changes"]}}, actor="setup")
    member_put(actor_membership=Membership.objects.get(space=workspace, user=owner), user=member, role="member")
    return workspace, owner, member


def test_a_members_unreadable_personal_key_does_not_fail_the_workspaces_reads(team, client_for, caplog):
    workspace, owner, member = team
    credential, key = lost_key(space_ensure_personal(user=member))
    in_workspace = {"X-Synchronex-Scope": str(workspace.id)}
    caplog.set_level(logging.WARNING)

    for reader in (owner, member):
        read = client_for(reader).get(IDENTITY, headers=in_workspace)
        assert read.status_code == 200, read.text
        assert "Ship small changes" in read.json()["injection_block"]
    assert str(credential.id) in caplog.text and "cannot be decrypted" in caplog.text
    assert key not in caplog.text
    # The member's own scope holds the key: its reads still fail closed.
    assert client_for(member).get(IDENTITY).status_code == 500


def test_a_workspaces_own_unreadable_key_still_fails_its_reads(team, client_for):
    workspace, owner, _ = team
    lost_key(workspace)
    read = client_for(owner).get(IDENTITY, headers={"X-Synchronex-Scope": str(workspace.id)})
    assert read.status_code == 500 and read.json()["error"]["code"] == "INTERNAL_ERROR"
