"""MIF import reads dates by the REST API's rule (``synchronex.instants.parse_instant``): RFC 3339's
spellings, without a zone UTC; what the REST API refuses is a bad item here too, never read
another way."""

import uuid
from datetime import UTC, datetime

import pytest

from apps.decisions.api.serializers import parse_instant
from apps.memory.mif.common import VENDOR, parse_timestamp
from apps.memory.models import Memory
from apps.memory.tests.mif_support import import_document, mif_document, mif_memory
from apps.products.models import ProductState

# Spellings the two paths read differently before they shared one rule.
TAKEN = {
    "2026-05-03t12:00:00z": datetime(2026, 5, 3, 12, tzinfo=UTC),  # RFC 3339 allows lower case
    "2026-05-03T12:00:00z": datetime(2026, 5, 3, 12, tzinfo=UTC),
    " 2026-05-03T12:00:00Z ": datetime(2026, 5, 3, 12, tzinfo=UTC),  # trimmed, as the REST API trims
    "2026-05-03T12:00:00": datetime(2026, 5, 3, 12, tzinfo=UTC),  # naive: UTC, on both paths
    "2026-05-03": datetime(2026, 5, 3, tzinfo=UTC),  # a date: its midnight UTC
    "2016-12-31T23:59:60Z": datetime(2016, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),  # a leap second
}
REFUSED = [
    "20260503",  # ISO 8601's basic form
    "20260503T120000Z",
    "2026-W18-7",  # a week date
    "2026-05-03T12",  # hours alone
    "2026-05-03T1200Z",
    "2026-05-03T12:00:00+01:99",  # was read as +02:39
    "2026-05-03T12:00:00+01:00:30",  # an offset with seconds
    "2026-05-03T12:00:00,5Z",  # a decimal comma
    "2026-05-03T12:00:00.Z",  # a point without digits
]


@pytest.mark.parametrize(("text", "moment"), TAKEN.items())
def test_mif_takes_what_the_rest_api_takes_as_the_same_moment(text, moment):
    assert parse_instant(text)[0] == moment
    assert parse_timestamp(text) == moment


@pytest.mark.parametrize("text", REFUSED)
def test_mif_refuses_what_the_rest_api_refuses(text):
    assert parse_instant(text) is None
    assert parse_timestamp(text) is None


@pytest.mark.django_db(transaction=True)
def test_generic_memory_timestamps_follow_the_rest_rule(write_api):
    taken = mif_memory(created_at="2026-05-03t12:00:00z", updated_at=" 2026-05-04T08:00:00Z ")
    refused = [mif_memory(**{field: text}) for text in REFUSED for field in ("created_at", "updated_at")]
    response = import_document(write_api, mif_document([taken, *refused]))
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["memories_imported"] == 1, report
    assert [error["index"] for error in report["errors"]] == list(range(1, len(refused) + 1)), report
    row = Memory.objects.get(memory_id=taken["id"])
    assert (row.created_at, row.updated_at) == (
        datetime(2026, 5, 3, 12, tzinfo=UTC),
        datetime(2026, 5, 4, 8, tzinfo=UTC),
    )


@pytest.mark.django_db(transaction=True)
def test_restored_timestamps_follow_the_rest_rule(write_api):
    def product(name: str, created_at: str) -> dict:
        record = {"id": str(uuid.uuid4()), "name": name, "created_at": created_at}
        return mif_memory(tags=["product-state"], vendor_extensions={VENDOR: {"kind": "product_state", "data": record}})

    response = import_document(
        write_api,
        mif_document([product("Atlas", "2026-05-03t12:00:00z"), product("Beta", "2026-05-03T12:00:00+01:99")]),
    )
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["products_imported"] == 1 and [error["index"] for error in report["errors"]] == [1], report
    assert ProductState.objects.get(name="Atlas").created_at == datetime(2026, 5, 3, 12, tzinfo=UTC)
    assert not ProductState.objects.filter(name="Beta").exists()
