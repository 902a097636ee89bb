"""identity.timezone takes the names of the IANA database, not the files an OS adds beside them."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("name", ["localtime", "posixrules", "europe/berlin", "Etc", "right/UTC"])
def test_names_that_are_not_iana_zones_are_refused(write_api, name):
    response = write_api.put("/api/v1/memory/identity", json={"identity": {"timezone": name}})
    assert response.status_code == 400, response.text
    assert list(response.json()["error"]["details"]["fields"]) == ["identity.timezone"]


@pytest.mark.parametrize("name", ["Europe/Berlin", "UTC", "America/Argentina/Buenos_Aires", "US/Pacific", "Factory"])
def test_zones_and_links_of_the_database_are_accepted(write_api, name):
    response = write_api.put("/api/v1/memory/identity", json={"identity": {"timezone": name}})
    assert response.status_code == 200, response.text
    assert response.json()["identity"]["timezone"] == name
