"""``timestamptz`` values loaded in C (synchronex/db/timestamps.py) are the values Django's own
loader gives: same instants, same time zone object, same errors."""

from __future__ import annotations

import datetime
import zoneinfo

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import get_adapters_template
from psycopg import DataError
from psycopg.pq import Format

from synchronex.db import timestamps

TIMESTAMPTZ = 1184
TEXTS = [
    b"2026-11-29 10:18:07.123456+00",
    b"1999-01-01 00:00:00+05",
    b"0001-01-01 00:00:00+00",
    b"9999-12-31 23:59:59+00",
]


def loaders():
    connection.ensure_connection()
    ours = connection.connection.adapters.get_loader(TIMESTAMPTZ, Format.TEXT)
    djangos = get_adapters_template(True, connection.timezone).get_loader(TIMESTAMPTZ, Format.TEXT)
    return ours(TIMESTAMPTZ, connection.connection), djangos(TIMESTAMPTZ, connection.connection)


@pytest.mark.django_db
def test_the_connection_loads_timestamps_in_c_and_gets_djangos_values():
    ours, djangos = loaders()
    assert isinstance(ours, timestamps.UtcTimestamptzLoader)
    for text in TEXTS:
        mine, theirs = ours.load(text), djangos.load(text)
        assert mine == theirs and mine.tzinfo is theirs.tzinfo is datetime.UTC
    for text in (b"infinity", b"-infinity"):
        for loader in (ours, djangos):
            with pytest.raises(DataError):
                loader.load(text)
    with connection.cursor() as cursor:
        cursor.execute("SELECT '2026-11-29 12:00:00.5+02'::timestamptz")
        assert cursor.fetchone()[0] == datetime.datetime(2026, 11, 29, 10, 0, 0, 500000, tzinfo=datetime.UTC)


def test_other_time_zones_keep_djangos_loader():
    lisbon = zoneinfo.ZoneInfo("Europe/Lisbon")
    assert timestamps.adapters_template(True, lisbon) is get_adapters_template(True, lisbon)
    assert timestamps.adapters_template(False, None) is get_adapters_template(False, None)
