"""broker_prune: the embedded broker's delivered messages are deleted once old; the rest stay."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection

from synchronex.celery import broker_prune
from tests.support.workers import publishing_to, sqla_broker_url

pytestmark = pytest.mark.django_db(transaction=True)


def test_old_delivered_messages_are_pruned_and_others_kept(settings):
    settings.BROKER_MESSAGE_RETENTION_HOURS = 24
    with publishing_to(sqla_broker_url(connection.settings_dict)) as app:
        with app.connection_for_write() as conn:
            conn.default_channel.session  # noqa: B018 - creates the kombu tables
        now = datetime.now()  # kombu's own (naive, local) clock
        with connection.cursor() as cursor:
            cursor.execute("DELETE FROM kombu_message")
            # kombu's ids come from sequences it calls itself (no column defaults).
            cursor.execute(
                "INSERT INTO kombu_queue (id, name) VALUES (nextval('queue_id_sequence'), 'prune-test') "
                "ON CONFLICT DO NOTHING"
            )
            cursor.execute("SELECT id FROM kombu_queue WHERE name = 'prune-test'")
            queue = cursor.fetchone()[0]
            rows = [
                ("old delivered", False, now - timedelta(hours=30)),
                ("recent delivered", False, now - timedelta(hours=1)),
                ("old but waiting", True, now - timedelta(hours=30)),
                ("never fetched", True, None),
            ]
            for payload, visible, at in rows:
                cursor.execute(
                    'INSERT INTO kombu_message (id, visible, "timestamp", payload, version, queue_id) '
                    "VALUES (nextval('message_id_sequence'), %s, %s, %s, 1, %s)",
                    [visible, at, payload, queue],
                )
        assert broker_prune() == 1
        with connection.cursor() as cursor:
            cursor.execute("SELECT payload FROM kombu_message ORDER BY payload")
            assert [row[0] for row in cursor.fetchall()] == ["never fetched", "old but waiting", "recent delivered"]
            cursor.execute("DELETE FROM kombu_message")


def test_prune_does_nothing_on_redis():
    with publishing_to("redis://127.0.0.1:1/0"):
        assert broker_prune() == 0
