"""An API request's key statement sent as the request arrives, and read when authentication asks.

Every API request with an API key runs one statement before its view: the key with its user,
the account's context stamp and, with the quota in PostgreSQL, the request's count
(``accounts.selectors.api_key_by_digest``). Under gunicorn that statement's round trip (most of it
waking the connection's idle PostgreSQL backend) was half of an identity read's time inside
Django, and Django's middleware and DRF's preparation ran for about 0.4 ms before it was even
sent. ``KeyPrefetchMiddleware`` sends the very same statement as the request arrives
(``synchronex/db/ahead.py``), so PostgreSQL works while Python runs the rest of the middleware;
authentication then takes its result (``take``) instead of running the statement.

It does so only for a request that will surely run that statement: a well-formed API key in a
Bearer header, a route whose view is an ``ApiView`` that counts requests, an ``Accept`` header
that content negotiation answers at once (so no 406 comes before authentication), an address
the failed-token throttle is not watching, and a Host that ALLOWED_HOSTS names (CommonMiddleware
refuses any other). So the request counts against its quota as it would have a moment later, and
a request refused before authentication counts nothing (the body checks, 413 and a bad
Content-Length, answer before this middleware; a 405 comes from DRF after authentication, so it
counts, as it always did; ``DISALLOWED_USER_AGENTS`` is not set). A result nobody takes (should
anything else fail in between) is read when anything else uses the connection, or when the
response leaves this middleware; if the statement could not be sent or failed, authentication
runs it as before.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import DEFAULT_DB_ALIAS, connections
from django.urls import Resolver404, resolve

from synchronex.api import ratelimit
from synchronex.api.authentication import bearer_token
from synchronex.api.negotiation import answered_at_once
from synchronex.db import ahead


@dataclass
class Prefetched:
    digest: str
    windows: object  # the quota windows the statement counts in (None: it counts nothing)
    sent: ahead.Ahead
    taken: bool = False


def take(request, digest: str) -> tuple[list[tuple], object] | None:
    """The rows and counting windows of this request's key statement for ``digest``, sent ahead,
    once; None when there is none (authentication then runs the statement itself)."""
    prefetched = getattr(request, "key_prefetch", None)
    if prefetched is None or prefetched.taken or prefetched.digest != digest:
        return None
    prefetched.taken = True
    rows = prefetched.sent.rows()
    return None if rows is None else (rows, prefetched.windows)


@functools.lru_cache(maxsize=4096)
def _counts_requests(urlconf: str, path: str) -> bool:
    """Whether the path's route is an API view whose authentication counts requests (remembered
    per URLconf: routes do not change while a process runs, and resolving costs ~0.1 ms)."""
    from synchronex.api.views import ApiView

    try:
        view = getattr(resolve(path, urlconf).func, "cls", None)
    except Resolver404:
        return False
    if view is None or not issubclass(view, ApiView):
        return False
    return any(getattr(auth, "counts_requests", False) for auth in view.authentication_classes)


def start(request, lookup) -> Prefetched | None:
    """Send the key statement of ``request`` if it will surely run; ``lookup(raw_token)`` gives
    ``(digest, sql, params, windows)`` for a well-formed API key, or None."""
    token = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
    if token is None or not answered_at_once(request):
        return None
    if not _counts_requests(settings.ROOT_URLCONF, request.path_info) or ratelimit.bearer_failures_watched(request):
        return None
    try:
        # CommonMiddleware, after this one, refuses a Host that ALLOWED_HOSTS does not name (400):
        # such a request never reaches authentication, so it must not count (a few µs, paid only
        # by requests that passed every check above).
        request.get_host()
    except DisallowedHost:
        return None
    found = lookup(token)
    if found is None:
        return None
    digest, sql, params, windows = found
    # The wrapper itself, not the ``connection`` proxy: every attribute the statement's
    # bookkeeping reads would otherwise go through a thread-local lookup.
    sent = ahead.send(connections[DEFAULT_DB_ALIAS], sql, params)
    return None if sent is None else Prefetched(digest, windows, sent)


class KeyPrefetchMiddleware:
    """Send an API request's key statement as it arrives (see the module's docstring)."""

    def __init__(self, get_response):
        from apps.accounts.services import api_key_lookup

        self.get_response = get_response
        self.lookup = api_key_lookup

    def __call__(self, request):
        prefetched = start(request, self.lookup)
        if prefetched is None:
            return self.get_response(request)
        request.key_prefetch = prefetched
        try:
            return self.get_response(request)
        finally:
            prefetched.sent.rows()  # read, if nobody took it
