"""Per-account request quotas (SPEC §2) and per-IP throttles for credential endpoints.

The account quota counts every request of an account (all its keys and tokens) in two fixed
windows, the clock minute and the UTC day: on Redis in production (the shared cache), or by
default in PostgreSQL, one row per account (synchronex/api/quota_table.py). Both stores count
atomically, so no window admits more than its limit however many processes serve requests.

The IP throttles use django-ratelimit as it is. The account quota uses the same cache
primitives (``add`` then ``incr``) but not ``django_ratelimit.core.get_usage``, because
that function staggers each key's window by a hash of the key, while the contract (and the
``reset_at`` it promises) needs windows aligned to the clock minute and the UTC day.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import caches
from django_ratelimit.core import _get_ip, get_usage

from synchronex.api import errors, quota_table, stamps
from synchronex.api.cache import PostgresCache

WINDOWS = (("minute", 60), ("day", 86400))
ENTERPRISE_DEFAULTS = {"day": 200_000, "minute": 3_000}


@dataclass(frozen=True)
class WindowUsage:
    window: str
    limit: int
    count: int
    reset: int  # Unix seconds at which the window ends

    @property
    def remaining(self) -> int:
        return max(self.limit - self.count, 0)

    @property
    def exceeded(self) -> bool:
        return self.count > self.limit

    def headers(self) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset),
        }


class QuotaExceeded(Exception):
    """The account used up a window; rendered with the exact body of SPEC §2, not the envelope."""

    def __init__(self, usage: WindowUsage, now: float):
        self.usage = usage
        # Rounded up: a client that waits exactly this long is past the window's end.
        self.retry_after = max(math.ceil(usage.reset - now), 1)
        super().__init__(f"{usage.window} quota exceeded")

    def body(self) -> dict:
        reset_at = datetime.fromtimestamp(self.usage.reset, tz=UTC)
        return {
            "error": "rate_limit_exceeded",
            "retry_after": self.retry_after,
            "limit": self.usage.limit,
            "remaining": 0,
            "reset_at": reset_at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{reset_at.microsecond // 1000:03d}Z",
        }

    def headers(self) -> dict[str, str]:
        return {**self.usage.headers(), "Retry-After": str(self.retry_after)}


def limits_for(user) -> dict[str, int]:
    """Daily and per-minute limits of an account: by tier, or its own numbers on enterprise.

    On enterprise an empty field means the default; 0 is a limit (an operator cutting the account
    off: every request is refused), never replaced by the default."""
    if user.tier == "enterprise":
        day, minute = user.daily_limit, user.minute_limit
        return {
            "day": ENTERPRISE_DEFAULTS["day"] if day is None else day,
            "minute": ENTERPRISE_DEFAULTS["minute"] if minute is None else minute,
        }
    return settings.TIER_LIMITS[user.tier]


def _count(cache, key: str, ttl: int) -> int:
    """Atomically add one to a counter, creating it when missing."""
    try:
        return cache.incr(key)
    except ValueError:
        pass
    if cache.add(key, 1, ttl):
        return 1
    return cache.incr(key)  # another process created it between our two calls


@dataclass(frozen=True)
class Windows:
    """The two windows a request falls in, and their counters' cache keys and lifetimes."""

    now: float
    spans: tuple[tuple[str, int, int], ...]  # (window, period, start)

    @classmethod
    def at(cls, now: float | None = None) -> Windows:
        now = time.time() if now is None else now
        return cls(now, tuple((window, period, int(now // period) * period) for window, period in WINDOWS))

    def start(self, window: str) -> int:
        """When ``window`` (``minute`` or ``day``) began, in Unix seconds."""
        return next(start for name, _, start in self.spans if name == window)

    def key(self, owner, window: str) -> str:
        """The cache key of ``window``'s counter for the account ``owner`` (its pk)."""
        return f"quota:{owner}:{window}:{self.start(window)}"

    def keys(self, owner) -> list[tuple[str, int]]:
        """``(cache key, lifetime)`` of each window's counter for the account ``owner``."""
        return [(self.key(owner, window), period + 60) for window, period, _ in self.spans]

    def judge(self, user, counts: list[int]) -> WindowUsage:
        """The window to report in headers for these counts, or QuotaExceeded."""
        limits = limits_for(user)
        usages = [
            WindowUsage(window, limits[window], count, start + period)
            for (window, period, start), count in zip(self.spans, counts, strict=True)
        ]
        if any(usage.exceeded for usage in usages):
            # The wait is for the later reset among the windows with nothing left: a refused request
            # counts too, and one that filled the day as it went over the minute leaves nothing
            # admitted before midnight, so the minute's end would be a false promise.
            spent = [usage for usage in usages if usage.remaining == 0]
            raise QuotaExceeded(max(spent, key=lambda u: u.reset), self.now)
        # Of windows with as few left, the later reset: that many are left until then.
        return min(usages, key=lambda u: (u.remaining, -u.reset))


def consume(user, *, now: float | None = None, request=None) -> WindowUsage:
    """Count one request; return the window to report in headers, or raise QuotaExceeded.

    With ``request``, the account's context stamp is read in the same round trip (when the
    quota is counted in PostgreSQL; otherwise by its own statement) and left on the request
    (``synchronex/api/stamps.py``). A request whose API key lookup already counted it
    (``request.quota_counts``, see ``accounts.selectors.api_key_by_digest``) is only judged.
    """
    counted = getattr(request, "quota_counts", None)
    if counted is not None:
        windows, counts = counted
        return windows.judge(user, counts)
    windows = Windows.at(now)
    wants_stamp = request is not None and getattr(request, "context_stamp", None) is None
    if counts_in_database():
        also = stamps.stamp_query(user.pk) if wants_stamp else None
        counts = quota_table.count(user.pk, windows, also=also)  # one round trip (and the stamp)
        if also is not None:
            counts, request.context_stamp = counts[:-1], counts[-1]
    else:
        cache = caches[settings.RATELIMIT_USE_CACHE]
        keys = windows.keys(user.pk)
        if hasattr(cache, "incr_many"):
            counts = cache.incr_many(keys)  # Redis: one round trip for both windows
        else:
            counts = [_count(cache, key, ttl) for key, ttl in keys]
        if wants_stamp:
            request.context_stamp = stamps.stamp_of(user.pk)
    return windows.judge(user, counts)


def counts_in_database() -> bool:
    """Whether the account quota lives in PostgreSQL (``quota_table``), not in the cache (Redis)."""
    return isinstance(caches[settings.RATELIMIT_USE_CACHE], PostgresCache)


def counting_statement(owner: str, *, where: str = "true") -> tuple[Windows, str, list] | None:
    """This request's count as a CTE of another statement (``quota_table.counting_cte``, over that
    statement's ``found``), with its windows and parameters; None when the quota is not counted
    in the database."""
    if not counts_in_database():
        return None
    windows = Windows.at()
    return windows, quota_table.counting_cte(owner, where), quota_table.starts(windows)


def usage_today(user, *, now: float | None = None) -> int:
    """Requests the account made today (for the admin)."""
    return usage_today_many([user], now=now)[user.pk]


def usage_today_many(users, *, now: float | None = None) -> dict:
    """Requests each account made today, keyed by user pk, in one cache round trip (admin lists)."""
    windows = Windows.at(now)
    if counts_in_database():
        return quota_table.day_counts([user.pk for user in users], windows.start("day"))
    keys = {windows.key(user.pk, "day"): user.pk for user in users}
    found = caches[settings.RATELIMIT_USE_CACHE].get_many(list(keys))
    return {pk: found.get(key, 0) for key, pk in keys.items()}


# Addresses this process saw fail this clock minute (address → window start). Only those pay for a
# look at the shared counter, so valid traffic from clean addresses costs no extra round trip; a
# guesser's first failure on each web process costs nothing more than its being counted.
#
# Why per process, and what it costs. Exact refusal in every process would need the shared counter
# before every lookup: a cache round trip on every authenticated request (the identity read's whole
# budget is about one), or a flag carried by a round trip the request already makes, and the only
# one before the lookup is the lookup itself (the key statement, sent as the request arrives; the
# quota of OAuth tokens and of Redis is counted after it). So a process that has not seen the address
# fail this minute looks its token up: a valid one is answered as usual, a wrong one is counted and,
# found past the limit, answered 429 like the others (``bearer_failure_count``). A guesser thus
# gets at most one lookup more per web process and minute than the limit, and learns nothing
# from it but what a valid token would have told it; the README says so.
_SEEN_FAILING: dict[str, int] = {}
_SEEN_FAILING_MAX = 10_000


def _failure_window(request, now: float) -> tuple[str, str, int]:
    address = _get_ip(request)
    start = int(now // 60) * 60
    return address, f"authfail:{address}:{start}", start


def bearer_failures_check(request, *, now: float | None = None) -> None:
    """Refuse any bearer token from an address with too many failed ones this clock minute.

    Checked before the token lookup, so once throttled an address learns nothing, not even
    whether a token is valid; valid tokens are never counted, only UNAUTHORIZED answers are. Only
    in a process that saw the address fail this minute (see ``_SEEN_FAILING`` for why).
    """
    now = time.time() if now is None else now
    if not bearer_failures_watched(request, now=now):
        return
    _, key, start = _failure_window(request, now)
    if caches[settings.RATELIMIT_USE_CACHE].get(key, 0) >= settings.API_AUTH_FAILURES_PER_MINUTE:
        raise _refusal(start, now)


def bearer_failures_watched(request, *, now: float | None = None) -> bool:
    """Whether this process saw the request's address fail this clock minute: only then does
    ``bearer_failures_check`` look at the shared counter (and may refuse the request)."""
    if not _SEEN_FAILING:  # the usual case: no failure seen here, so no address to work out
        return False
    address, _, start = _failure_window(request, time.time() if now is None else now)
    return _SEEN_FAILING.get(address) == start


def bearer_failure_count(request, *, now: float | None = None) -> None:
    """Count one failed bearer authentication (unknown, malformed or revoked token) of the address;
    raise RATE_LIMITED when the count is past the limit (other processes made it so: this one
    refuses before the lookup once it has seen as many), so no guess past it is answered 401."""
    now = time.time() if now is None else now
    address, key, start = _failure_window(request, now)
    if len(_SEEN_FAILING) >= _SEEN_FAILING_MAX:
        _SEEN_FAILING.clear()
    _SEEN_FAILING[address] = start
    if _count(caches[settings.RATELIMIT_USE_CACHE], key, 120) > settings.API_AUTH_FAILURES_PER_MINUTE:
        raise _refusal(start, now)


def _refusal(start: int, now: float) -> errors.RateLimited:
    return errors.RateLimited(
        "Too many failed authentications from this address; wait and try again.",
        headers={"Retry-After": str(max(math.ceil(start + 60 - now), 1))},
    )


def bearer_failures_forget() -> None:
    """Forget which addresses this process saw failing (tests start each case clean)."""
    _SEEN_FAILING.clear()


def throttle_ip(request, *, group: str, rate: str) -> None:
    """Per-client-IP throttle for unauthenticated endpoints that take credentials.

    The 429 says in ``Retry-After`` how long the address's window still runs (django-ratelimit
    ends each key's window at its own second of the period, not on the clock minute). It is marked
    ``no-store`` like every other answer of these endpoints (RFC 6749 §5.1, RFC 7591 §3.2.1)."""
    wait = ip_throttled(request, group=group, rate=rate)
    if wait is not None:
        raise errors.RateLimited(
            f"Too many attempts from this address; wait {wait_in_words(wait)} and try again.",
            headers={"Retry-After": str(wait), "Cache-Control": "no-store", "Pragma": "no-cache"},
        )


def wait_in_words(seconds: int) -> str:
    """``seconds`` in words, as the address throttles' 429s say them (the login page's and the API's),
    rounded up: seconds below two minutes, minutes below two hours, else hours (their rates may
    count per hour or day, not only per minute)."""
    for unit, size in (("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size:
            return f"{-(-seconds // size)} {unit}s"
    return f"{seconds} second{'' if seconds == 1 else 's'}"


def ip_throttled(request, *, group: str, rate: str) -> int | None:
    """Count this request against its client IP's window; the seconds to wait if it is over, else None.

    Shared by the API's credential endpoints and the browser's login and logout forms. A store it
    cannot reach raises (the cache's connection error): a request that cannot be counted is not
    served, answered 503 on the API (``to_service_error``) and as a 503 page on the browser's
    forms (``middleware.unavailable_page``)."""
    usage = get_usage(request, group=group, key="ip", rate=rate, increment=True)
    if usage is None or not usage["should_limit"]:
        return None
    # ``time_left`` is the window's last second minus this whole second, but django-ratelimit keeps
    # the window through all of that last second (``_get_window`` moves on only once it is past):
    # the true wait, rounded up, is one more, so a client waiting exactly this long is admitted.
    # At least 1: ``time_left`` is -1 when the store failed.
    return max(usage["time_left"] + 1, 1)
