"""Beat's scheduler (``CELERY_BEAT_SCHEDULER``): celery's file-backed one, made to survive a broker
outage and a damaged schedule file. Beat is the only process that queues lost-job recovery and the
periodic prunes, and it runs unattended (embedded in ``make run``'s worker, or the ``beat`` role),
so a beat that stops sending, or dies at start, goes unnoticed while the worker and web carry on.
"""

from __future__ import annotations

import contextlib
import logging

from celery.beat import PersistentScheduler

logger = logging.getLogger(__name__)


class Scheduler(PersistentScheduler):
    def apply_async(self, entry, producer=None, advance=True, **kwargs):
        """Send ``entry``; if that fails, forget the broker connection so the next tick opens one.

        Beat caches one producer and connection for its whole life. After a broker outage longer
        than kombu's publish retries (a database restart, with the embedded broker), that
        producer's channel stays closed, and every later send fails with "channel disconnected"
        although the broker is back. celery's ``apply_entry`` logs the error and goes on."""
        try:
            return super().apply_async(entry, producer=producer, advance=advance, **kwargs)
        except Exception:
            self._forget_broker_connection()
            raise

    def _forget_broker_connection(self) -> None:
        # The cached properties ``producer`` and ``connection`` (celery.beat.Scheduler) are
        # created again on first use, as ``close()`` relies on.
        self.__dict__.pop("producer", None)
        connection = self.__dict__.pop("connection", None)
        if connection is not None:
            try:
                connection.release()
            except Exception:
                logger.debug("beat: releasing the failed broker connection failed too", exc_info=True)

    def _create_schedule(self):
        """Start a new schedule file if the stored one cannot be read.

        A beat killed while writing leaves a file whose index names entries its data no longer
        holds (an emptied ``.dat``): reading them raises EOFError, which celery does not count as a
        damaged file, so beat died at every start until someone deleted it. The schedule only
        holds each entry's last run, so starting over only counts each next run from now."""
        try:
            for key in list(self._store.keys()):
                self._store[key]  # noqa: B018 - reading every value is the check
        except Exception as exc:
            with contextlib.suppress(Exception):
                self._store.close()
            self._store = self._destroy_open_corrupted_schedule(exc)
        super()._create_schedule()
