"""Settings every connection of the project starts with, sent with the connection's start-up
packet (libpq ``options``, added in settings.py unless ``DB_STARTUP_OPTIONS`` is false), so they
cost no statement and hold for every statement after.

``pg_trgm.word_similarity_threshold``: the least ``word_similarity`` the ``<%`` / ``%>``
operators (and the trigram indexes that serve them) accept. The decision search's typo
correction (``apps/decisions/ranking.py`` ``CORRECTIONS``) needs 0.5: pg_trgm's default (0.6)
misses one dropped letter in a short word. With it set here, that statement needs neither a
transaction nor a ``set_config`` of its own (BEGIN, ``set_config``, the statement and COMMIT
were four round trips). A search that wants another bound states it in its own condition
(``apps/memory/search.py``: ``%>`` to use the index, then ``word_similarity(...) >= 0.6``).

A pooler that refuses start-up options (PgBouncer does, for settings it does not track) needs
``DB_STARTUP_OPTIONS=false`` and the settings on the database instead (``ALTER DATABASE … SET``);
without them the typo correction still answers, with pg_trgm's stricter default (a typo must be
closer to a word to be corrected).
"""

from __future__ import annotations

WORD_SIMILARITY_THRESHOLD = 0.5

SETTINGS = {"pg_trgm.word_similarity_threshold": str(WORD_SIMILARITY_THRESHOLD)}


def startup_options(given: str | None) -> str:
    """libpq's ``options`` with ``SETTINGS`` added to any ``given`` (from ``DATABASE_URL``, say)."""
    ours = " ".join(f"-c {name}={value}" for name, value in SETTINGS.items())
    return f"{given} {ours}" if given else ours
