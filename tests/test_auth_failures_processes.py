"""The failed-token throttle (``API_AUTH_FAILURES_PER_MINUTE``) across web processes.

Two gunicorn servers of one worker each, on the test database: the failure count is shared (the
cache), while which addresses failed is each process's own memory. What a process that has not seen
the address fail does is exactly what the README promises (``synchronex/api/ratelimit.py``).
"""

from __future__ import annotations

import secrets
import time

import pytest
import requests
from django.db import connection

from tests.support import servers

pytestmark = pytest.mark.slow

LIMIT = 3


def _guess() -> str:
    return "sx_live_" + secrets.token_urlsafe(32)


def _status(base: str, token: str) -> int:
    return requests.get(base + "/api/v1/scope", headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code


@pytest.mark.django_db(transaction=True)
def test_past_the_limit_no_process_answers_a_guess_with_401(make_user, make_key):
    token = make_key(make_user())
    env = {
        "DATABASE_URL": servers.database_url(connection.settings_dict),
        "REDIS_URL": "",
        "API_AUTH_FAILURES_PER_MINUTE": str(LIMIT),
    }
    with servers.gunicorn(env, workers=1) as first, servers.gunicorn(env, workers=1) as second:
        if 60 - time.time() % 60 < 15:  # the window is the clock minute: do not straddle two
            time.sleep(60 - time.time() % 60 + 0.1)
        assert [_status(first, _guess()) for _ in range(LIMIT)] == [401] * LIMIT
        # The process that saw them refuses every token from the address, before its lookup.
        assert [_status(first, t) for t in (token, _guess())] == [429, 429]

        # The other saw none: it still looks a token up, so a valid one is answered as usual...
        assert _status(second, token) == 200
        # ...and a guess, which fails past the limit, is answered as past it: 429, never 401.
        refused = requests.get(second + "/api/v1/scope", headers={"Authorization": f"Bearer {_guess()}"}, timeout=30)
        assert refused.status_code == 429, refused.text
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Having seen the address fail, it too refuses every token before its lookup.
        assert [_status(second, t) for t in (token, _guess(), token)] == [429, 429, 429]
