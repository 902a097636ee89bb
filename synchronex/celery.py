"""The Celery app. Broker: Redis in production (``REDIS_URL``); by default, the embedded database.

The embedded broker is kombu's SQLAlchemy transport on the project's PostgreSQL: a real broker
(messages in the ``kombu_message`` table) consumed by separate worker processes, with no extra
server. Its limits, and how the project copes with them, are in the README ("Background work").
"""

import os
from datetime import datetime, timedelta

from celery import Celery
from celery.signals import before_task_publish, setup_logging, task_postrun, task_prerun, worker_process_init

from synchronex.api.request_id import SANE, current_request_id, forget_request_id, set_request_id

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "synchronex.settings")

app = Celery("synchronex")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# The message header carrying the id of the request that sent a task (``_send_request_id``).
REQUEST_ID_HEADER = "request_id"


@setup_logging.connect
def _project_logging(**kwargs) -> None:
    """The worker and beat log as the web processes do, through ``settings.LOGGING``: one record one
    line with its request id, controls escaped, tracebacks indented, at ``LOG_LEVEL``. Celery's own
    set-up replaced those handlers with its format, at its ``--loglevel``; with a receiver connected
    here it sets up nothing (Celery's documented way to keep a project's logging), so ``--loglevel``
    has no effect."""
    from logging.config import dictConfig

    from django.conf import settings

    dictConfig(settings.LOGGING)


@before_task_publish.connect
def _send_request_id(headers=None, **kwargs) -> None:
    """A task sent while a request is served (or by a task) carries that id in its message, so its
    worker's lines can be found from the request's, and the other way round."""
    rid = current_request_id()
    if headers is not None and rid != "-":
        headers.setdefault(REQUEST_ID_HEADER, rid)


@task_prerun.connect
def _take_request_id(task_id=None, task=None, **kwargs) -> None:
    """The records of a task's run carry the id its message brought, or else its task id (beat's
    tasks, a job recovery's): Celery's own lines name the task id too."""
    if task.request.is_eager:
        return  # run inline by the caller (CELERY_TASK_ALWAYS_EAGER), whose records keep its own id
    sent = task.request.get(REQUEST_ID_HEADER)
    set_request_id(sent if isinstance(sent, str) and SANE.match(sent) else task_id)


@task_postrun.connect
def _drop_request_id(task=None, **kwargs) -> None:
    if not task.request.is_eager:
        forget_request_id()


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
