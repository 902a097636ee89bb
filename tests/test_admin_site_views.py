"""The admin site's own views: autocomplete answers and "View on site" links.

No admin here declares ``autocomplete_fields``, so the autocomplete endpoint answers no field
(Django's only checks view permission on the target model); one that did would get its answers
redacted as the target's list is, and a ``term`` the search box refuses. No model here has a page
outside the admin, so no admin page links to one and ``/admin/r/…`` answers 404 for any id.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.test import Client
from django.urls import reverse
from oauth2_provider.models import get_application_model

from apps.accounts.models import ApiKey, User
from apps.accounts.services import user_create
from apps.byok.services import byok_credential_create
from apps.byok.tests.helpers import fresh_key
from apps.decisions.services import decision_create
from apps.ingest.models import Signal
from apps.products.services import product_ensure
from apps.scopes.services import space_ensure_personal
from conftest import ADMIN_PASSWORD as PASSWORD

pytestmark = pytest.mark.django_db

REDACTED = "[REDACTED:api_key]"


def _staff(email: str, *perms: tuple[str, str]) -> Client:
    """A client signed in as a staff member holding only ``perms`` ((app_label, codename) pairs)."""
    person = user_create(email=email, password=PASSWORD, is_staff=True)
    person.user_permissions.set(
        [Permission.objects.get(content_type__app_label=app, codename=codename) for app, codename in perms]
    )
    client = Client()
    client.force_login(person)
    return client


def _autocomplete(client: Client, app_label: str, model_name: str, field_name: str, term: str = ""):
    query = urlencode({"app_label": app_label, "model_name": model_name, "field_name": field_name, "term": term})
    return client.get(f"{reverse('admin:autocomplete')}?{query}")


def _pasted_key() -> str:
    """A BYOK key of a space, pasted into a decision's text and a product's name there."""
    owner = user_create(email="paster@example.com", tier="pro")
    space = space_ensure_personal(user=owner)
    key = fresh_key("openai")
    byok_credential_create(space=space, service="openai", label="Main", key=key)
    product_ensure(space=space, name=f"Prod {key}")
    decision_create(space=space, decision=f"Use key {key} for prod", product_name=f"Prod {key}")
    return key


def test_autocomplete_answers_no_field_that_no_admin_offers_it_for(superuser):
    """The probe's leak: view permission on decisions (or products) alone read a pasted key back
    through a foreign key no form offers autocomplete for."""
    key = _pasted_key()
    for client, field_name in (
        (_staff("viewdec@example.com", ("decisions", "view_decision")), "decision"),
        (_staff("viewprod@example.com", ("products", "view_productstate")), "product"),
    ):
        for term in ("", "key", "prod"):
            response = _autocomplete(client, "ingest", "signal", field_name, term)
            assert response.status_code == 403, (field_name, term)
            assert key not in response.content.decode()


def test_autocomplete_answers_are_redacted_as_the_target_list_is(superuser, staff, monkeypatch):
    """Were a field offered autocomplete, its answers would name rows as the target's list does."""
    key = _pasted_key()
    monkeypatch.setattr(admin.site.get_model_admin(Signal), "autocomplete_fields", ("decision", "product"))
    viewdec = _staff("viewdec@example.com", ("decisions", "view_decision"))
    for client, field_name, text in (
        (viewdec, "decision", f"Use key {REDACTED} for prod"),
        (staff, "decision", f"Use key {REDACTED} for prod"),
        (staff, "product", f"Prod {REDACTED}"),
    ):
        response = _autocomplete(client, "ingest", "signal", field_name)
        assert response.status_code == 200, field_name
        assert [row["text"] for row in response.json()["results"]] == [text]
        assert key not in response.content.decode()
    # Still only for staff who may view the target.
    assert _autocomplete(_staff("viewprod@example.com"), "ingest", "signal", "decision").status_code == 403


def test_autocomplete_refuses_a_nul_in_its_term_not_answers_500(staff, monkeypatch):
    for app_label, model_name, field_name in (("accounts", "apikey", "user"), ("ingest", "signal", "decision")):
        for term in ("\x00", "a\x00", "a\x00b"):
            assert _autocomplete(staff, app_label, model_name, field_name, term).status_code == 403
    # Where a field is offered it, the term is checked as the lists' search box checks it.
    monkeypatch.setattr(admin.site.get_model_admin(ApiKey), "autocomplete_fields", ("user",))
    assert _autocomplete(staff, "accounts", "apikey", "user", "a\x00b").status_code == 400
    found = _autocomplete(staff, "accounts", "apikey", "user", "root@")
    assert found.status_code == 200 and [row["text"] for row in found.json()["results"]] == ["root@example.com"]


def _application():
    return get_application_model().objects.create(
        name="EvilApp",
        client_type="public",
        authorization_grant_type="authorization-code",
        redirect_uris="http://127.0.0.1:8765/callback",
    )


def test_no_admin_page_offers_view_on_site(staff):
    """DOT's application model has a ``get_absolute_url`` to a page this project does not route:
    its button answered 500. No model here has a page outside the admin."""
    application = _application()
    page = staff.get(reverse("admin:oauth2_provider_application_change", args=[application.pk]))
    assert page.status_code == 200 and "viewsitelink" not in page.content.decode()
    for model, model_admin in admin.site._registry.items():
        assert model_admin.get_view_on_site_url(model()) is None, model._meta.label


def test_the_view_on_site_redirect_answers_404_for_any_id(staff):
    """Neither a 500 for an id that is no key of the model, nor a different answer for an object
    that exists: ``/admin/r/`` was an existence test for staff without any permission."""
    application = _application()
    apps_type = ContentType.objects.get_for_model(type(application)).pk
    users_type = ContentType.objects.get_for_model(User).pk
    paths = [
        f"/admin/r/{apps_type}/{application.pk}/",
        f"/admin/r/{apps_type}/{application.pk + 1}/",
        f"/admin/r/{users_type}/not-a-uuid/",
        f"/admin/r/{users_type}/{User.objects.get().pk}/",
        "/admin/r/zz/1/",
    ]
    for client in (staff, _staff("noperm@example.com")):
        for path in paths:
            assert client.get(path).status_code == 404, path
    assert Client().get(paths[0]).status_code == 302  # to the admin login, as every admin page
