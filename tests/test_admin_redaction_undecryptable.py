"""A BYOK key that no configured Fernet key decrypts cannot be redacted: the admin's pages still
answer, with the rows of the spaces it belongs to withheld (``synchronex/admin_redaction.py``)
and the other spaces' rows as usual."""

from __future__ import annotations

import logging

import pytest
from django.test import override_settings
from django.urls import reverse

from apps.accounts.services import user_create
from apps.byok.services import byok_credential_create
from apps.byok.tests.helpers import fresh_key, new_fernet_key
from apps.decisions.services import decision_create
from apps.products.services import product_state_write
from apps.scopes.models import Membership
from apps.scopes.services import member_put, space_ensure_personal, workspace_create
from synchronex.admin_redaction import WITHHELD

pytestmark = pytest.mark.django_db


def test_an_unreadable_key_withholds_its_spaces_rows_and_the_pages_still_answer(staff, caplog):
    lost = user_create(email="lost@example.com", tier="pro")
    space = space_ensure_personal(user=lost)
    key = fresh_key("openai")
    with override_settings(FERNET_KEYS=[new_fernet_key()]):  # a key this process does not have
        credential = byok_credential_create(space=space, service="openai", label="Lost", key=key)
    decision = decision_create(space=space, decision=f"Deploy with {key} on Fridays", product_name="Atlas")
    product_state_write(space=space, name="Atlas", changes={"next_session_starts_here": f"Rotate {key}"})
    # A workspace the owner of that key belongs to: its rows may hold the key too.
    boss = user_create(email="boss@example.com", tier="team")
    workspace = workspace_create(owner=boss, name="Team", kind="team")
    member_put(actor_membership=Membership.objects.get(space=workspace, user=boss), user=lost, role="member")
    decision_create(space=workspace, decision=f"Team deploys with {key}", product_name="Beacon")
    healthy = space_ensure_personal(user=user_create(email="healthy@example.com", tier="pro"))
    decision_create(space=healthy, decision="Pin the runtime everywhere", product_name="Comet")
    caplog.set_level(logging.WARNING)

    urls = [
        reverse("admin:decisions_decision_changelist"),
        reverse("admin:products_productstate_changelist"),
        reverse("admin:scopes_space_overview", args=[space.pk]),
        reverse("admin:scopes_space_overview", args=[workspace.pk]),
        reverse("admin:decisions_decision_change", args=[decision.pk]),
    ]
    for url in urls:
        response = staff.get(url)
        assert response.status_code == 200, url
        assert key[8:24] not in response.content.decode(), url
    html = staff.get(reverse("admin:decisions_decision_changelist")).content.decode()
    assert "Pin the runtime everywhere" in html and WITHHELD in html
    assert "Deploy with" not in html and "Team deploys with" not in html
    assert str(credential.id) in caplog.text and key not in caplog.text
