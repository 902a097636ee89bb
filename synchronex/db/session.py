"""Settings every connection of the project starts with, sent with the connection's start-up
packet (libpq ``options``), so they cost no statement and hold for every statement after.

``pg_trgm.word_similarity_threshold``: the least ``word_similarity`` the ``<%`` / ``%>``
operators (and the trigram indexes that serve them) accept. The decision search's typo
correction (``apps/decisions/ranking.py`` ``CORRECTIONS``) needs 0.5: pg_trgm's default (0.6)
misses one dropped letter in a short word. With it set here, that statement needs neither a
transaction nor a ``set_config`` of its own (BEGIN, ``set_config``, the statement and COMMIT
were four round trips). A search that wants another bound states it in its own condition
(``apps/memory/search.py``: ``%>`` to use the index, then ``word_similarity(...) >= 0.6``).
"""

from __future__ import annotations

WORD_SIMILARITY_THRESHOLD = 0.5

SETTINGS = {"pg_trgm.word_similarity_threshold": str(WORD_SIMILARITY_THRESHOLD)}


def with_session_settings(params: dict) -> dict:
    """Connection parameters with ``SETTINGS`` added to libpq's ``options`` (any given kept)."""
    ours = " ".join(f"-c {name}={value}" for name, value in SETTINGS.items())
    params["options"] = f"{params['options']} {ours}" if params.get("options") else ours
    return params
