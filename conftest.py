"""Shared test fixtures: users, API keys, and a real-HTTP client against a live server."""

from __future__ import annotations

import os

import pytest
import requests

from apps.accounts.services import api_key_create, user_create

# ``make test`` runs the suite in two processes (pytest.ini: ``-n 2 --dist loadscope``): each file's
# functions (and each test class) are one unit of work, handed in collection order to whichever
# process is free. The longest files
# go first, so that neither process is left waiting at the end for one of them (xdist's own order,
# by number of tests, started the one-test fuzz run of about 150 s last).
LONGEST_FIRST = (
    "tests/test_fuzz.py",
    "tests/test_worker_pipeline.py",
    "tests/test_worker_limits.py",
    "tests/test_faults.py",
    "tests/test_hangs.py",
    "apps/memory/tests/test_mif_streaming.py",
    "tests/test_run_script.py",
)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """Several suites may share one embedded server: ``TEST_DB_SUFFIX`` keeps their databases apart."""
    from django.conf import settings

    # Live-server threads must not keep connections open, or the test database cannot be dropped.
    settings.DATABASES["default"]["CONN_MAX_AGE"] = 0
    suffix = os.environ.get("TEST_DB_SUFFIX")
    if suffix:
        db = settings.DATABASES["default"]
        test = db.setdefault("TEST", {})
        test["NAME"] = f"{test.get('NAME') or 'test_' + db['NAME']}_{suffix}"


class Api:
    """A tiny HTTP client bound to the live server and, optionally, a bearer token."""

    def __init__(self, base_url: str, token: str | None = None):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.session = requests.Session()

    def as_token(self, token: str | None) -> Api:
        return Api(self.base_url, token)

    def request(self, method: str, path: str, *, token: str | None = ..., headers: dict | None = None, **kwargs):
        headers = dict(headers or {})
        bearer = self.token if token is ... else token
        if bearer:
            headers.setdefault("Authorization", f"Bearer {bearer}")
        return self.session.request(method, self.base_url + path, headers=headers, timeout=30, **kwargs)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)


@pytest.fixture
def make_user(db):
    counter = {"n": 0}

    def make(email: str | None = None, tier: str = "free", **fields):
        counter["n"] += 1
        return user_create(email=email or f"user{counter['n']}-{os.urandom(3).hex()}@example.com", tier=tier, **fields)

    return make


@pytest.fixture
def make_key(db):
    def make(user, scope: str = "write", **kwargs) -> str:
        _, raw = api_key_create(user=user, name=kwargs.pop("name", "test key"), scope=scope, **kwargs)
        return raw

    return make


@pytest.fixture
def user(make_user):
    return make_user(tier="pro")


@pytest.fixture
def api(live_server) -> Api:
    """An unauthenticated client on the live server (real HTTP)."""
    return Api(live_server.url)


ADMIN_PASSWORD = "correct horse battery staple 42"


@pytest.fixture
def superuser(db):
    """A superuser (``root@example.com``, password ``ADMIN_PASSWORD``) for the admin's tests."""
    return user_create(email="root@example.com", password=ADMIN_PASSWORD, is_staff=True, is_superuser=True)


@pytest.fixture
def staff(superuser):
    """A test client logged in to the admin as ``superuser``."""
    from django.test import Client

    client = Client()
    client.force_login(superuser)
    return client


@pytest.fixture
def broker_on_test_database(db):
    """The embedded broker on the test database: jobs a test queues (a consolidation it then runs
    in-process, say) go to its tables, and a /healthz that must answer 200 makes its broker round
    trip there, not to the development database."""
    from django.db import connection

    from tests.support.workers import publishing_to, sqla_broker_url

    with publishing_to(sqla_broker_url(connection.settings_dict)):
        yield


@pytest.fixture
def client_for(live_server, make_key):
    """``client_for(user, scope="write")`` → a client carrying a fresh API key of that user."""

    def make(user, scope: str = "write") -> Api:
        return Api(live_server.url, make_key(user, scope))

    return make


@pytest.fixture
def write_api(client_for, user) -> Api:
    return client_for(user, "write")


@pytest.fixture
def read_api(client_for, user) -> Api:
    return client_for(user, "read")


@pytest.fixture
def inproc_for(make_key):
    """``inproc_for(user)`` → DRF's in-process client with a key: for pinning query counts
    (``django_assert_num_queries`` sees only this thread's queries, not a live server's)."""
    from rest_framework.test import APIClient

    def make(user, scope: str = "write") -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_key(user, scope)}")
        return client

    return make


@pytest.fixture(autouse=True)
def _no_random_cache_cull(monkeypatch):
    """The embedded cache deletes expired rows after 1 in 100 writes, chosen at random: one more
    statement, now and then, inside a request whose statements a test counts. Off in tests;
    tests/test_cache.py turns it on to test it."""
    monkeypatch.setattr("synchronex.api.cache.CULL_PROBABILITY", 0)


@pytest.fixture(autouse=True)
def _fresh_cache(request, django_db_blocker):
    """Counters (quotas, IP throttles) must not leak from one test into the next."""
    yield
    if "django_db_setup" in request.fixturenames or request.node.get_closest_marker("django_db"):
        from django.core.cache import cache

        from synchronex.api import stamps
        from synchronex.api.ratelimit import bearer_failures_forget

        # The database fixtures may already be torn down; the test database itself remains.
        with django_db_blocker.unblock():
            cache.clear()
        bearer_failures_forget()
        stamps.forget()


@pytest.fixture
def base_url(live_server, settings):
    """The live server, configured as the public origin (OAuth issuer and resource identifiers), so
    tokens obtained through it are issued for its API."""
    url = live_server.url
    settings.PUBLIC_BASE_URL = url
    settings.OAUTH2_PROVIDER = {**settings.OAUTH2_PROVIDER, "OIDC_ISS_ENDPOINT": url}
    return url


@pytest.fixture
def person(make_user):
    """A pro user who can log in with the OAuth helpers' password (``apps.oauth.tests.helpers``)."""
    from apps.oauth.tests.helpers import PASSWORD

    return make_user(tier="pro", password=PASSWORD)


@pytest.fixture
def oauth_for(base_url, person):
    """``oauth_for("memory:read …")`` → a client carrying an OAuth token of ``person`` with those scopes."""
    from apps.oauth.tests.helpers import obtain_tokens, register_client

    app = register_client(base_url)

    def make(scope: str) -> Api:
        _, tokens = obtain_tokens(base_url, person.email, scope=scope, client=app)
        return Api(base_url, tokens["access_token"])

    return make
