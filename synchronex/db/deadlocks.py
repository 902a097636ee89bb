"""Writes that PostgreSQL may pick as a deadlock's victim run again, once or twice, by themselves.

Writers take their locks in one order where they can (a decision's product row before the
decision, as consolidation does), but some orders are not the writer's to choose: deleting a
decision clears the links of its neighbours, and two clients deleting the two ends of a link lock
the same two rows from opposite sides. PostgreSQL then aborts one of them (SQLSTATE 40P01) after
``deadlock_timeout``; its transaction did nothing, so running it again (after a short pause) is
safe and nearly always succeeds. A client should not see a lock cycle of the server's own making.
"""

from __future__ import annotations

import functools
import logging
import random
import time

from django.db import IntegrityError, OperationalError, connection, transaction

logger = logging.getLogger(__name__)

DEADLOCK_DETECTED = "40P01"
ATTEMPTS = 3


def is_deadlock(exc: BaseException) -> bool:
    """Whether ``exc`` (Django's wrapper or psycopg's own error) is PostgreSQL's deadlock abort."""
    cause = exc.__cause__ if isinstance(exc, OperationalError) else exc
    return getattr(cause, "sqlstate", None) == DEADLOCK_DETECTED


def retry_deadlocks(func, *, rerun=is_deadlock):
    """Run ``func`` in a transaction; when it is a deadlock's victim, run it again (``ATTEMPTS`` in all).

    Inside a caller's transaction ``func`` runs once, in a savepoint: only the outermost
    transaction can be run again, so the caller (or its own ``retry_deadlocks``) decides.
    Callbacks registered with ``on_commit`` by an aborted attempt are dropped with it.
    ``rerun``: which database errors undo a run that may simply be run again (``admin_deletes``
    adds a delete's commit refused by rows written after it collected them).
    """

    @functools.wraps(func)
    def run(*args, **kwargs):
        for attempt in range(1, ATTEMPTS):
            if connection.in_atomic_block:
                break
            try:
                with transaction.atomic():
                    return func(*args, **kwargs)
            except (OperationalError, IntegrityError) as exc:
                if not rerun(exc):
                    raise
                refused = " ".join(str(exc).split())  # its DETAIL too, on the log line
                why = "was a deadlock's victim" if is_deadlock(exc) else f"was refused ({refused})"
                logger.warning("%s %s; running it again (attempt %s)", func.__qualname__, why, attempt)
                # A moment's pause lets the survivor, still waiting on a row this attempt held, take it:
                # PostgreSQL does not queue row locks, and an immediate rerun would often get the row
                # first and close the same cycle again.
                time.sleep(random.uniform(0.01, 0.05) * attempt)
        with transaction.atomic():
            return func(*args, **kwargs)

    return run
