"""The consent page answers GET (the page) and POST (Allow/Deny) only."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from oauth2_provider.models import get_grant_model

from apps.oauth.tests.helpers import authorize_params, form_fields, login, pkce_pair, register_client

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_another_method_on_the_consent_page_is_405_naming_only_get_and_post(base_url, person, method):
    # Django's FormView treats PUT as POST, but reads no form from a PUT body: the filled-in consent
    # form sent with PUT was answered 400 "altered or incomplete", and Allow advertised PUT.
    client = register_client(base_url)
    session = login(base_url, person.email)
    url = f"{base_url}/oauth/authorize?{urlencode(authorize_params(client['client_id'], pkce_pair()[1]))}"
    fields = {**form_fields(session.get(url, timeout=30).text), "allow": "Allow"}

    response = session.request(
        method,
        url,
        data=fields,
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": url},
        allow_redirects=False,
        timeout=30,
    )

    assert response.status_code == 405, response.text
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert set(response.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST", "HEAD", "OPTIONS"}
    assert not get_grant_model().objects.exists()
