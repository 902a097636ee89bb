"""Publishing a write's follow-up task once the write commits, without letting the broker hold it.

What a request wrote is committed before its task is published (embeddings of new text, a
consolidation job), so a broker that is down or hangs must neither fail the answer (a client's
retry would write again) nor hold it. The work is not lost: rows stay pending for the space's
next publish or the hourly embedding sweep, and a queued job is sent again by lease recovery.

A broker that *refuses* fails quickly (kombu's retries: well under a second), and each later
write tries again. One that *hangs* costs each publish about twice ``CELERY_BROKER_SOCKET_TIMEOUT``
(kombu's two attempts), and every write would pay it, tying up the web workers one after another.
So a publish that failed on a timeout, or after at least ``SLOW_FAILURE_SECONDS`` whatever the
error, pauses publishing in this process for ``BROKER_PUBLISH_PAUSE_SECONDS``: one write per
process pays the wait, not every write. A refusal is told by its error, not its duration: on a busy
host kombu's retries alone can take over a second, and a refused broker that came back would then
wait out a pause for nothing.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# A failure this slow pauses publishing even without a timeout in its chain (a broker host that
# went silent in some way no timeout reports); a hung broker is otherwise told by its timeout.
SLOW_FAILURE_SECONDS = 5.0

_paused_until = 0.0


def publish_on_commit(task, **kwargs) -> None:
    """Send ``task`` with ``kwargs`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(lambda: _publish(task, kwargs))


def _publish(task, kwargs: dict) -> None:
    global _paused_until
    started = time.monotonic()
    if started < _paused_until:
        logger.warning("Not sent, publishing is paused after a broker that hung: %s %s", task.name, kwargs)
        return
    try:
        task.delay(**kwargs)
    except Exception as exc:
        spent = time.monotonic() - started
        if timed_out(exc) or spent >= SLOW_FAILURE_SECONDS:
            _paused_until = time.monotonic() + settings.BROKER_PUBLISH_PAUSE_SECONDS
        logger.exception("Could not send %s (%s) to the broker after %.1f s", task.name, kwargs, spent)


def timed_out(exc: BaseException) -> bool:
    """Whether a failed publish waited on a broker that did not answer (a timeout anywhere in the
    chain kombu raises: redis-py's own TimeoutError is not the built-in one)."""
    from redis.exceptions import TimeoutError as RedisTimeoutError

    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, (TimeoutError, RedisTimeoutError)):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False
