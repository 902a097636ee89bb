"""The Celery app. Broker: Redis in production (``REDIS_URL``); by default, the embedded database.

The embedded broker is kombu's SQLAlchemy transport on the project's PostgreSQL: a real broker
(messages in the ``kombu_message`` table) consumed by separate worker processes, with no extra
server. Its limits, and how the project copes with them, are in the README ("Background work").
"""

import os
from datetime import datetime, timedelta

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "synchronex.settings")

app = Celery("synchronex")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def uses_database_broker() -> bool:
    return app.conf.broker_url.startswith(("sqla+", "sqlalchemy+"))


@worker_process_init.connect
def _drop_inherited_broker_connections(**kwargs) -> None:
    """A pool process forked once the worker is connected — one replacing a process that died, or
    that a task's hard time limit killed — inherits the embedded broker's pooled connections.
    Publishing on them would interleave its statements with the main process's on one server
    session and break both (the worker then stops). Forget them without closing them (they are
    the main process's), so that this process opens its own."""
    from kombu.transport.sqlalchemy import Channel

    for engine, _ in list(Channel._engines.values()):
        engine.dispose(close=False)


@app.task(name="synchronex.celery.broker_prune", acks_late=True, ignore_result=True)
def broker_prune() -> int:
    """Delete the embedded broker's delivered messages older than BROKER_MESSAGE_RETENTION_HOURS.

    kombu's SQLAlchemy transport never deletes a message: a delivered one only turns invisible
    (``visible = false``, its ``timestamp`` set to the delivery time in the worker's local time).
    A message that old is long acknowledged, or its worker is long gone — in which case the
    application's own recovery (consolidation leases) has already sent a new one.
    """
    if not uses_database_broker():
        return 0
    from django.conf import settings
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('kombu_message') IS NOT NULL")
        if not cursor.fetchone()[0]:
            return 0
        # kombu writes naive local times; compare with the same clock.
        cutoff = datetime.now() - timedelta(hours=settings.BROKER_MESSAGE_RETENTION_HOURS)
        cursor.execute('DELETE FROM kombu_message WHERE visible = false AND "timestamp" < %s', [cutoff])
        return cursor.rowcount
