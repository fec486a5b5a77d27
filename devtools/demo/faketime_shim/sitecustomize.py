"""Loaded (through PYTHONPATH) only into the demo's app process when it runs under libfaketime.

libfaketime 0.9.10 with FAKETIME_DONT_FAKE_MONOTONIC=1 makes clock_nanosleep(CLOCK_MONOTONIC,
TIMER_ABSTIME), which Python 3.11's time.sleep uses, fail with EINVAL; without that setting
a moved clock makes sleeps hang. select() is not affected, so time.sleep waits with it. The
app's code is untouched; this only mends the runtime under the preloaded library.
"""

import select
import time


def _sleep(seconds: float) -> None:
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        select.select([], [], [], left)


time.sleep = _sleep
