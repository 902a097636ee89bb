"""A client registered over RFC 7591 belongs to no account, even when the registering request
carried a signed-in browser session: registration is anonymous, and the app is shared by every
account that connects it."""

from __future__ import annotations

import importlib

import pytest
import requests
from django.apps import apps as django_apps
from django.db import connection
from oauth2_provider.models import get_access_token_model, get_application_model

from apps.accounts.models import User
from apps.accounts.services import users_delete
from apps.oauth.tests.helpers import PASSWORD, REDIRECT_URI, login, obtain_tokens, register_client

Application = get_application_model()
AccessToken = get_access_token_model()

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_registration_sent_with_a_session_binds_the_app_to_no_account(base_url, make_user, person):
    """DOT made the signed-in account the app's owner (``Application.user``) and the holder of its
    registration token: the app was listed among that account's connected apps, which it never
    authorized, and deleting the account deleted the app with every other account's tokens."""
    registrant = make_user(tier="pro", password=PASSWORD)
    session = login(base_url, registrant.email)
    body = {"client_name": "Shared Helper", "redirect_uris": [REDIRECT_URI]}
    response = session.post(f"{base_url}/api/oauth/register", json=body, timeout=30)
    assert response.status_code == 201, response.text
    registration = response.json()
    app = Application.objects.get(client_id=registration["client_id"])
    assert app.user is None
    assert not AccessToken.objects.filter(application=app, user__isnull=False).exists()
    assert "Shared Helper" not in session.get(f"{base_url}/settings/apps", timeout=30).text

    _, tokens = obtain_tokens(base_url, person.email, scope="memory:read", client=registration)
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(f"{base_url}/api/v1/scope", headers=bearer, timeout=30).status_code == 200

    users_delete(users=User.objects.filter(pk=registrant.pk))
    assert Application.objects.filter(pk=app.pk).exists()
    assert requests.get(f"{base_url}/api/v1/scope", headers=bearer, timeout=30).status_code == 200
    # The client still manages its registration (RFC 7592) with the token it was given.
    manage = {"Authorization": f"Bearer {registration['registration_access_token']}"}
    assert requests.get(registration["registration_client_uri"], headers=manage, timeout=30).status_code == 200


def test_the_migration_detaches_registered_clients_bound_to_an_account(base_url, make_user, person):
    """Registered before the fix: the app and its registration token held the registering account."""
    registrant = make_user(tier="pro")
    registration = register_client(base_url, name="Bound Helper")
    app = Application.objects.get(client_id=registration["client_id"])
    Application.objects.filter(pk=app.pk).update(user=registrant)
    AccessToken.objects.filter(application=app).update(user=registrant)
    _, tokens = obtain_tokens(base_url, person.email, scope="memory:read", client=registration)
    made_otherwise = Application.objects.create(
        name="Made otherwise", user=registrant, client_type="public", authorization_grant_type="authorization-code"
    )

    migration = importlib.import_module("apps.oauth.migrations.0003_registered_clients_belong_to_no_account")
    migration.registered_clients_belong_to_no_account(django_apps, connection.schema_editor())

    assert Application.objects.get(pk=app.pk).user is None
    assert list(AccessToken.objects.filter(application=app).values_list("user", flat=True).order_by("user")) == [
        person.pk,  # the token the person was issued stays theirs
        None,  # the registration token
    ]
    assert Application.objects.get(pk=made_otherwise.pk).user == registrant
    users_delete(users=User.objects.filter(pk=registrant.pk))
    bearer = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert requests.get(f"{base_url}/api/v1/scope", headers=bearer, timeout=30).status_code == 200
