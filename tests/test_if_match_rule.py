"""One ``If-Match`` rule for every versioned write (SPEC §1): the kernel's PUT and a product
state's POST read the header alike (``synchronex/api/preconditions.py``).

Each case is sent to both routes, each at version 1: an entity tag that names no version is
PRECONDITION_FAILED with the current ``ETag``, a value that is no entity tag at all is
VALIDATION_ERROR, and neither writes anything.
"""

from __future__ import annotations

import pytest

from apps.products.tests.test_product_state_api import state_path

pytestmark = pytest.mark.django_db(transaction=True)

KERNEL = "/api/v1/memory/identity"
ATLAS = state_path("Atlas")

MATCHING = ['"1"', "1", "*", '"7", "1"', '"7" ,"1"', 'W/"1", "1"']
NAMING_NO_VERSION = [
    '"0"',
    "2",
    '"abc"',
    '"99999999999"',  # more digits than a version has
    '"' + "9" * 5000 + '"',  # past Python's int() digit limit: must not be a 500
    '""',
    '"01x"',
    '"01"',  # strong comparison is character for character: the ETag is "1", not "01"
    "01",
    '"a,b"',  # an opaque tag may hold a comma
    'W/"1"',  # If-Match compares strongly (RFC 9110 §13.1.1): a weak tag never matches
    '"7", W/"1"',
]
NOT_ENTITY_TAGS = ["yesterday", ",", '"1', '1"', "W/1", 'W/ "1"', '*, "1"', '"a"b"', "1.0", "\xb2"]


@pytest.fixture
def at_version_one(write_api):
    assert write_api.put(KERNEL, json={"identity": {"name": "Ada"}}).headers["ETag"] == '"1"'
    assert write_api.post(ATLAS, json={"status": "active"}).headers["ETag"] == '"1"'
    return write_api


def _writes(api, header):
    headers = {"If-Match": header}
    return {
        "kernel": api.put(KERNEL, json={"identity": {"name": "Grace"}}, headers=headers),
        "product": api.post(ATLAS, json={"status": "paused"}, headers=headers),
    }


def _unchanged(api):
    kernel, product = api.get(KERNEL).json(), api.get(ATLAS).json()
    assert (kernel["version"], kernel["identity"]["name"]) == (1, "Ada")
    assert (product["version"], product["status"]) == (1, "active")


@pytest.mark.parametrize("header", MATCHING)
def test_a_tag_naming_the_current_version_writes_on_both_routes(at_version_one, header):
    for route, response in _writes(at_version_one, header).items():
        assert response.status_code == 200, (route, response.text)
        assert response.headers["ETag"] == '"2"', route


@pytest.mark.parametrize("header", NAMING_NO_VERSION)
def test_a_tag_naming_no_current_version_is_precondition_failed_with_the_etag(at_version_one, header):
    for route, response in _writes(at_version_one, header).items():
        assert response.status_code == 412, (route, response.text)
        error = response.json()["error"]
        assert error["code"] == "PRECONDITION_FAILED" and error["details"] == {"current_version": 1}, route
        assert response.headers["ETag"] == '"1"', route
    _unchanged(at_version_one)


@pytest.mark.parametrize("header", NOT_ENTITY_TAGS)
def test_a_value_that_is_no_entity_tag_is_a_validation_error(at_version_one, header):
    for route, response in _writes(at_version_one, header).items():
        assert response.status_code == 400, (route, response.text)
        error = response.json()["error"]
        assert error["code"] == "VALIDATION_ERROR" and list(error["details"]["fields"]) == ["If-Match"], route
        assert "ETag" not in response.headers, route
    _unchanged(at_version_one)


def test_a_stale_product_tag_gets_the_current_etag(write_api):
    write_api.post(ATLAS, json={"status": "active"})
    write_api.post(ATLAS, json={"status": "paused"})
    stale = write_api.post(ATLAS, json={"status": "blocked"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.headers["ETag"] == '"2"'


def test_if_match_on_a_missing_product_has_no_etag_to_give(write_api):
    for header in ('"1"', "*", '"abc"'):
        response = write_api.post(state_path("Ghost"), json={"status": "paused"}, headers={"If-Match": header})
        assert response.status_code == 412, response.text
        assert "ETag" not in response.headers
    assert write_api.get(state_path("Ghost")).status_code == 404
