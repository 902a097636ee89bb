"""The bounds of one JSON-RPC batch (revision 2025-03-26): a request's memory and time must not
grow with the number of messages a client puts in it. Each request of a batch is bounded as a
single request is (an ``export_memories`` document holds at most 8 MiB), but not their sum: 40
exports in one batch answered 276 MB, built in memory at once.

- ``BATCH_MAX_MESSAGES``: a longer batch is refused whole (``views.McpView``), before any of it
  runs, and counts once against the quota, as a batch its revision refuses does.
- ``BATCH_ANSWER_MAX_BYTES``: once the answers of a batch reach it, its further requests are
  answered ``BATCH_LIMIT_REACHED`` without running.
- a quarter of ``WEB_TIMEOUT``: once a batch has run that long, the same; the request running
  then may still take as long as a single request does before gunicorn's worker timeout.

The request that crosses a limit has run and keeps its answer (an error in its place would have a
client send a write again), so a batch answers at most ``BATCH_ANSWER_MAX_BYTES`` plus one
request's answer. The first request of a batch always runs. A batch's requests are counted
against the quota before it runs (so a batch over the quota runs nothing): those refused here
have been counted.
"""

from __future__ import annotations

import time

from django.conf import settings

from .protocol import BATCH_LIMIT_REACHED, RpcError

BATCH_MAX_MESSAGES = 20
BATCH_ANSWER_MAX_BYTES = 8 * 1024 * 1024  # the cap of one export_memories document (tools.mif.EXPORT_MAX_BYTES)


class BatchBudget:
    """What a batch has used so far: the bytes of its answers, and the time since it began."""

    def __init__(self):
        self.seconds = settings.WEB_TIMEOUT // 4
        self.started = time.monotonic()
        self.answered = 0
        self.ran = False

    def spend(self, answer: bytes) -> None:
        self.answered += len(answer)

    def admit(self) -> RpcError | None:
        """None when the next request of the batch may run, else the error answering it unrun."""
        if self.answered >= BATCH_ANSWER_MAX_BYTES:
            return RpcError(
                BATCH_LIMIT_REACHED,
                f"Not run: the answers of this batch reached {BATCH_ANSWER_MAX_BYTES} bytes, the limit of "
                "one batch. Send this request again, alone or in another batch.",
                {"limit": "answer_bytes", "max": BATCH_ANSWER_MAX_BYTES},
            )
        if self.ran and time.monotonic() - self.started >= self.seconds:
            return RpcError(
                BATCH_LIMIT_REACHED,
                f"Not run: this batch ran for {self.seconds} seconds, the limit of one batch. Send this "
                "request again, alone or in another batch.",
                {"limit": "seconds", "max": self.seconds},
            )
        self.ran = True
        return None
