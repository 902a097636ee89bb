"""Every connection starts with the project's session settings (synchronex/db/session.py)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import connection, connections

from synchronex.db.session import SETTINGS, WORD_SIMILARITY_THRESHOLD, startup_options

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
    assert startup_options(None) == "-c pg_trgm.word_similarity_threshold=0.5"
    options = startup_options("-c statement_timeout=5000")
    assert options.startswith("-c statement_timeout=5000 -c ")
    assert all(f"-c {name}={value}" in options for name, value in SETTINGS.items())


def test_the_options_can_be_left_off_for_a_pooler_that_refuses_them():
    env = {
        **os.environ,
        "DB_STARTUP_OPTIONS": "false",
        "DATABASE_URL": "postgres://u@db.invalid/x?options=-c%20a.b%3D1",
    }
    shown = "from django.conf import settings; print(settings.DATABASES['default']['OPTIONS'].get('options'))"
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {shown}"], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "-c a.b=1"
    env["DB_STARTUP_OPTIONS"] = "true"
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {shown}"], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "-c a.b=1 -c pg_trgm.word_similarity_threshold=0.5", out.stderr


def test_without_the_setting_typo_correction_still_answers_with_pg_trgm_default(user, inproc_for):
    from apps.decisions.services import decision_create
    from apps.scopes.services import space_ensure_personal

    decision_create(
        space=space_ensure_personal(user=user), decision="Stream events through Kafka", product_name="Atlas"
    )
    client = inproc_for(user, "read")
    with connection.cursor() as cursor:  # as behind a pooler without the start-up option (rolled back)
        cursor.execute("SET pg_trgm.word_similarity_threshold = 0.6")

    def found(q: str) -> list[str]:
        response = client.get("/api/v1/memory/decisions/search", {"q": q})
        assert response.status_code == 200, response.content
        return [hit["decision"] for hit in response.json()["results"]]

    assert found("kafak") == []  # 0.5: too far for pg_trgm's default
    assert found("kafkka") == ["Stream events through Kafka"]  # 0.625: corrected
