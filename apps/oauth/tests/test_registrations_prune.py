"""Clients registered over RFC 7591 do not live for ever: beat deletes those nobody authorized within
OAUTH_UNUSED_CLIENT_DAYS, and registration access tokens expire. Clients in use stay."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from oauth2_provider.models import (
    get_access_token_model,
    get_application_model,
    get_grant_model,
    get_refresh_token_model,
)

from apps.oauth.tasks import oauth_registrations_prune
from apps.oauth.tests.helpers import obtain_tokens, refresh, register_client

AccessToken = get_access_token_model()
Application = get_application_model()

pytestmark = pytest.mark.django_db(transaction=True)


def _registered_days_ago(client_ids, days: int) -> None:
    Application.objects.filter(client_id__in=client_ids).update(created=timezone.now() - timedelta(days=days))


def _manage(client: dict, token: str | None = None):
    token = token or client["registration_access_token"]
    return requests.get(client["registration_client_uri"], headers={"Authorization": f"Bearer {token}"}, timeout=30)


def test_clients_nobody_authorized_go_and_clients_in_use_stay(base_url, person, settings):
    never = register_client(base_url, name="Never authorized")
    never_pk = Application.objects.get(client_id=never["client_id"]).pk
    recent = register_client(base_url, name="Registered within the period")
    authorized, tokens = obtain_tokens(base_url, person.email)
    used, used_tokens = obtain_tokens(base_url, person.email)
    api = requests.get(
        f"{base_url}/api/v1/scope", headers={"Authorization": f"Bearer {used_tokens['access_token']}"}, timeout=30
    )
    assert api.status_code == 200, api.text
    # Used on the API, then idle until every token was deleted: only the account's use remains.
    used_app = Application.objects.get(client_id=used["client_id"])
    get_refresh_token_model().objects.filter(application=used_app).delete()
    get_grant_model().objects.filter(application=used_app).delete()
    AccessToken.objects.filter(application=used_app, user=person).delete()
    manual = Application.objects.create(
        name="Made in the admin",
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_AUTHORIZATION_CODE,
        redirect_uris="https://manual.example/cb",
        client_secret="",
        hash_client_secret=False,
    )
    days = settings.OAUTH_UNUSED_CLIENT_DAYS
    _registered_days_ago([never["client_id"], authorized["client_id"], used["client_id"], manual.client_id], days + 1)
    _registered_days_ago([recent["client_id"]], days - 1)

    assert settings.CELERY_BEAT_SCHEDULE["oauth-registrations-prune"]["task"] == oauth_registrations_prune.name
    oauth_registrations_prune()

    kept = set(Application.objects.values_list("client_id", flat=True))
    assert never["client_id"] not in kept
    assert not AccessToken.objects.filter(application_id=never_pk).exists()  # its registration token went too
    assert _manage(never).status_code == 401
    assert {recent["client_id"], authorized["client_id"], used["client_id"], manual.client_id} <= kept
    assert refresh(base_url, authorized["client_id"], tokens["refresh_token"]).status_code == 200


def test_registration_access_tokens_expire(base_url, person, settings):
    client = register_client(base_url)
    lifetime = timedelta(seconds=settings.OAUTH2_PROVIDER["DCR_REGISTRATION_TOKEN_EXPIRE_SECONDS"])
    token = AccessToken.objects.get(application__client_id=client["client_id"])

    assert lifetime == timedelta(days=30)
    assert abs(token.expires - (token.created + lifetime)) < timedelta(minutes=1)
    assert _manage(client).status_code == 200
    AccessToken.objects.filter(pk=token.pk).update(expires=timezone.now() - timedelta(seconds=1))
    expired = _manage(client)
    assert (expired.status_code, expired.json()["error"]) == (401, "invalid_token")
    # The client itself is unaffected: it is authorized and exchanges codes as before.
    obtain_tokens(base_url, person.email, client=client)


def test_a_public_client_is_registered_without_a_secret(base_url):
    # It authenticates with its client_id alone; hashing an unused secret cost 0.3-0.75 s of CPU
    # (PBKDF2, a million iterations) on every unauthenticated registration.
    client = register_client(base_url)
    application = Application.objects.get(client_id=client["client_id"])

    assert (application.client_secret, application.hash_client_secret) == ("", False)
    wrong = requests.post(
        f"{base_url}/api/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": "sxr_nope"},
        auth=(client["client_id"], "wrong"),
        timeout=30,
    )
    assert (wrong.status_code, wrong.json()["error"]) == (401, "invalid_client")


def test_public_clients_registered_earlier_lose_their_unused_secret_in_the_migration(base_url):
    # Registered before public clients were stored without a secret: a hashed one nobody was shown.
    # After migration synchronex_oauth.0002 such a client answers an empty Basic password as a new one does.
    import importlib

    from django.apps import apps as django_apps
    from django.db import connection

    client = register_client(base_url)
    Application.objects.filter(client_id=client["client_id"]).update(
        client_secret="pbkdf2_sha256$1000000$salt$hash", hash_client_secret=True
    )
    admin_made = Application.objects.create(
        name="made by staff", client_type=Application.CLIENT_PUBLIC, authorization_grant_type="authorization-code"
    )
    admin_secret = admin_made.client_secret

    def basic(client_id):
        return requests.post(
            f"{base_url}/api/oauth/token",
            data={"grant_type": "refresh_token", "refresh_token": "sxr_nope"},
            auth=(client_id, ""),
            timeout=30,
        ).json()["error"]

    assert basic(client["client_id"]) == "invalid_client"
    migration = importlib.import_module("apps.oauth.migrations.0002_public_registered_clients_without_a_secret")
    migration.clear_secrets(django_apps, connection.schema_editor())

    application = Application.objects.get(client_id=client["client_id"])
    assert (application.client_secret, application.hash_client_secret) == ("", False)
    assert basic(client["client_id"]) == "invalid_grant"  # authenticated; the token is what is wrong
    assert basic(register_client(base_url)["client_id"]) == "invalid_grant"  # as a client registered now
    assert Application.objects.get(pk=admin_made.pk).client_secret == admin_secret  # not registered: kept
