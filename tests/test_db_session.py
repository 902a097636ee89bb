"""Every connection starts with the project's session settings (synchronex/db/session.py)."""

from __future__ import annotations

import pytest
from django.db import connections

from synchronex.db.session import SETTINGS, WORD_SIMILARITY_THRESHOLD, with_session_settings

pytestmark = pytest.mark.django_db


def test_a_new_connection_has_the_trigram_bound_before_and_after_pg_trgm_loads():
    wrapper = connections.create_connection("default")
    try:
        with wrapper.cursor() as cursor:
            cursor.execute("SHOW pg_trgm.word_similarity_threshold")
            assert float(cursor.fetchone()[0]) == WORD_SIMILARITY_THRESHOLD
            # The operator reads it: 'kafak' is 0.5 like 'kafka' (3 of 6 trigrams), under pg_trgm's 0.6.
            cursor.execute("SELECT word_similarity('kafak', 'kafka'), 'kafak' <% 'kafka'")
            similarity, accepted = cursor.fetchone()
            assert similarity == pytest.approx(0.5) and accepted is True
            cursor.execute("SHOW pg_trgm.word_similarity_threshold")
            assert float(cursor.fetchone()[0]) == WORD_SIMILARITY_THRESHOLD
    finally:
        wrapper.close()


def test_options_given_with_the_database_url_are_kept():
    assert with_session_settings({})["options"] == "-c pg_trgm.word_similarity_threshold=0.5"
    params = with_session_settings({"options": "-c statement_timeout=5000"})
    assert params["options"].startswith("-c statement_timeout=5000 -c ")
    assert all(f"-c {name}={value}" in params["options"] for name, value in SETTINGS.items())
