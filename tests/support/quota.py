"""Keeping a test's counted requests inside one quota window."""

import time
import zlib


def wait_for_fresh_minute_margin(seconds: float = 15) -> None:
    """Sleep past the next clock minute when fewer than ``seconds`` of this one are left.

    The account quota's windows are the clock minute and the UTC day (which also ends on a
    minute), so a test comparing counts across requests would see the count restart, rightly,
    if its requests straddled a minute.
    """
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)


def seconds_left_in_ip_window(address: str = "127.0.0.1", period: int = 60) -> int:
    """django-ratelimit (the per-IP throttles) ends each key's window at its own second of the
    period (crc32 jitter), not on the clock minute."""
    return (zlib.crc32(address.encode()) % period - int(time.time()) % period) % period


def wait_for_fresh_ip_window(seconds: int, address: str = "127.0.0.1", period: int = 60) -> None:
    """Sleep into the next per-IP throttle window when fewer than ``seconds`` of this one are left."""
    if seconds_left_in_ip_window(address, period) < seconds:
        time.sleep(seconds_left_in_ip_window(address, period) + 1)
