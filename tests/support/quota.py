"""Keeping a test's counted requests inside one quota window."""

import time


def wait_for_fresh_minute_margin(seconds: float = 15) -> None:
    """Sleep past the next clock minute when fewer than ``seconds`` of this one are left.

    The account quota's windows are the clock minute and the UTC day (which also ends on a
    minute), so a test comparing counts across requests would see the count restart, rightly,
    if its requests straddled a minute.
    """
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)
