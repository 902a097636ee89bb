"""The key statement sent as an API request arrives (synchronex/api/key_prefetch.py) on a statement
sent ahead (synchronex/db/ahead.py): taken by authentication, counted once, sent only when it
will surely be run, and never leaving the connection busy or a failure behind."""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts.services import api_key_lookup
from synchronex.api import key_prefetch
from synchronex.api.models import QuotaCount
from synchronex.db import ahead
from tests.support.quota import wait_for_fresh_minute_margin

# Outside a test transaction: statements are sent ahead only on an idle connection.
pytestmark = pytest.mark.django_db(transaction=True)
IDENTITY = "/api/v1/memory/identity"


def counted(user) -> int:
    return QuotaCount.objects.filter(user_id=user.pk).values_list("day_count", flat=True).first() or 0


@pytest.fixture
def client_of(make_key):
    def make(user, **headers) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {make_key(user)}", **headers)
        return client

    return make


def test_authentication_takes_the_statement_sent_as_the_request_arrived(user, client_of):
    wait_for_fresh_minute_margin(5)
    client = client_of(user)
    assert client.get(IDENTITY).status_code == 200  # on a connection new to it, this prepares it
    remaining = []
    for _ in range(4):
        with CaptureQueriesContext(connection) as queries:
            response = client.get(IDENTITY)
        assert response.status_code == 200
        prefetched = response.wsgi_request.key_prefetch
        assert prefetched.taken and prefetched.sent.rows()  # the key's row came from the early statement
        remaining.append(int(response["X-RateLimit-Remaining"]))
    assert remaining == [remaining[0] - n for n in range(4)]  # each request counted once
    assert counted(user) == 5
    assert len(queries) == 1 and "api_quotacount" in queries[0]["sql"]  # and nothing ran it again


def test_a_revoked_key_fails_at_once_and_counts_nothing(user, client_of):
    client = client_of(user)
    assert client.get(IDENTITY).status_code == 200
    user.api_keys.update(revoked_at="2026-01-01T00:00:00Z")
    response = client.get(IDENTITY)
    assert response.status_code == 401 and response.json()["error"]["code"] == "UNAUTHORIZED"
    assert response.wsgi_request.key_prefetch.taken
    assert counted(user) == 1


@pytest.mark.parametrize(
    ("path", "headers", "status"),
    [
        (IDENTITY, {"HTTP_ACCEPT": "text/html"}, 200),  # negotiated (JSON is served): authentication counts it
        ("/api/v1/no-such-route", {}, 404),
        ("/api/v1/openapi.json", {}, 200),  # the schema counts no quota
    ],
)
def test_nothing_is_sent_for_a_request_that_might_not_reach_authentication(user, client_of, path, headers, status):
    client = client_of(user, **headers)
    response = client.get(path)
    assert response.status_code == status
    assert getattr(response.wsgi_request, "key_prefetch", None) is None
    assert counted(user) == (1 if status == 200 and path.startswith(IDENTITY) else 0)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"HTTP_HOST": "evil.example"}, 400),  # refused by CommonMiddleware (ALLOWED_HOSTS)
        ({"HTTP_HOST": "bad host"}, 400),  # a malformed Host, the same
        ({"CONTENT_LENGTH": str(2 * 1024 * 1024)}, 413),  # refused by ApiErrorMiddleware, earlier
        ({"CONTENT_LENGTH": "many"}, 400),
    ],
)
def test_a_request_refused_before_authentication_counts_nothing(user, client_of, headers, status):
    wait_for_fresh_minute_margin(5)
    client = client_of(user)
    for _ in range(2):  # the second is sent ahead (the first prepares the statement on the connection)
        assert client.get(IDENTITY).status_code == 200
    assert response_was_sent_ahead(client.get(IDENTITY))
    refused = [client.get(IDENTITY, **headers) for _ in range(3)]
    assert [r.status_code for r in refused] == [status] * 3
    assert not any("X-RateLimit-Remaining" in r for r in refused)
    assert counted(user) == 3
    assert int(client.get(IDENTITY)["X-RateLimit-Remaining"]) == 300 - 4
    assert all(getattr(r.wsgi_request, "key_prefetch", None) is None for r in refused)


def response_was_sent_ahead(response) -> bool:
    prefetched = getattr(response.wsgi_request, "key_prefetch", None)
    return response.status_code == 200 and prefetched is not None and prefetched.taken


@pytest.mark.parametrize("token", ["sx_live_short", "sxo_" + "a" * 40, "not-a-key"])
def test_nothing_is_sent_for_anything_but_a_well_formed_api_key(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    response = client.get(IDENTITY)
    assert response.status_code == 401
    assert getattr(response.wsgi_request, "key_prefetch", None) is None


def test_an_address_the_failed_token_throttle_watches_gets_nothing_sent(user, client_of):
    guesser = APIClient()
    guesser.credentials(HTTP_AUTHORIZATION="Bearer sx_live_" + "x" * 43)  # well formed, unknown
    first = guesser.get(IDENTITY)
    assert first.status_code == 401 and first.wsgi_request.key_prefetch.taken  # no failure seen yet
    response = client_of(user).get(IDENTITY)  # the same address, now watched
    assert response.status_code == 200
    assert getattr(response.wsgi_request, "key_prefetch", None) is None
    assert counted(user) == 1


def test_the_first_send_on_a_connection_prepares_and_the_caller_runs_the_statement():
    connection.close()
    first = ahead.send(connection, "SELECT %s::int + 1", [41])
    assert first is not None and first.rows() is None  # only prepared
    second = ahead.send(connection, "SELECT %s::int + 1", [41])
    assert second.rows() == [(42,)]


def test_a_statement_nobody_took_is_read_before_the_connection_is_used_again(user, make_key):
    request = RequestFactory().get(IDENTITY, HTTP_AUTHORIZATION=f"Bearer {make_key(user)}")
    key_prefetch.start(request, api_key_lookup).sent.rows()  # prepared on this connection (or run)
    before = counted(user)
    prefetched = key_prefetch.start(request, api_key_lookup)
    assert prefetched is not None and connection.ahead is prefetched.sent
    with connection.cursor() as cursor:  # another statement first: the early one is read before it
        cursor.execute("SELECT 41 + 1")
        assert cursor.fetchone() == (42,)
    assert connection.ahead is None and len(prefetched.sent.rows()) == 1
    assert counted(user) == before + 1
    assert key_prefetch.start(request, api_key_lookup) is not None
    connection.close()  # closing reads it too
    assert connection.ahead is None and counted(user) == before + 2


def test_a_lost_prepared_statement_fails_once_and_authentication_runs_it(user, client_of):
    client = client_of(user)
    for _ in range(2):
        assert client.get(IDENTITY).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")  # as psycopg does after a rollback
    responses = [client.get(IDENTITY) for _ in range(3)]
    assert [r.status_code for r in responses] == [200, 200, 200]
    # Failed (and counted nothing), then prepared again, then taken; each request counted once.
    assert [bool(r.wsgi_request.key_prefetch.sent.rows()) for r in responses] == [False, False, True]
    assert counted(user) == 5


def test_nothing_is_sent_ahead_inside_a_transaction_or_without_server_side_binding(monkeypatch):
    with transaction.atomic():
        assert ahead.send(connection, "SELECT %s", [1]) is None
    monkeypatch.setitem(connection.settings_dict["OPTIONS"], "server_side_binding", False)
    assert ahead.send(connection, "SELECT %s", [1]) is None


def test_a_statement_is_sent_ahead_with_text_and_integer_parameters():
    for _ in range(2):  # the first send on a connection prepares it
        sent = ahead.send(connection, "SELECT %s::text || '/' || (%s + 1)::text", ["a", 41])
    assert sent is not None and sent.rows() == [("a/42",)]
    assert ahead._numbered("a = %s AND b = %s", 2) == "a = $1 AND b = $2"
    with pytest.raises(ValueError):
        ahead._numbered("a LIKE 'x%%' AND b = %s", 1)
    with pytest.raises(TypeError):
        ahead.send(connection, "SELECT %s", [True])


def test_alternating_accounts_on_one_connection_each_get_their_own_key(make_user, client_of):
    ada, bob = make_user(), make_user()
    clients = {ada.pk: client_of(ada), bob.pk: client_of(bob)}
    for user, name in ((ada, "Ada"), (bob, "Bob")):
        assert clients[user.pk].put(IDENTITY, {"identity": {"name": name}}, format="json").status_code == 200
    for _ in range(3):
        for user, name in ((ada, "Ada"), (bob, "Bob")):
            response = clients[user.pk].get(IDENTITY)
            assert response.status_code == 200 and response.json()["identity"]["name"] == name
            assert response.wsgi_request.key_prefetch.taken
    assert (counted(ada), counted(bob)) == (4, 4)
