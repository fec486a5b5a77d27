"""A doorbell between processes: a web process saying "new work is waiting" to the work
process(es) the moment it has saved a request (bot/processes.py).

It is one byte down a pipe that the supervisor makes before it forks, so every web worker
and every work process holds its ends and nothing is configured. Ringing never blocks: a
full pipe means the work process has already been told. With several work processes, each
ring wakes one of them. A ring that is lost costs no more than the work process's poll
interval (bot/inbox.py POLL_SECONDS): the database is the queue, the bell only saves the wait.
"""

from __future__ import annotations

import contextlib
import os
import select


class Doorbell:
    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._write, False)
        # Several work processes may wait on it: whoever loses the race reads nothing.
        os.set_blocking(self._read, False)

    def ring(self) -> None:
        with contextlib.suppress(OSError):  # full: rung already and not yet answered
            os.write(self._write, b"!")

    def wait(self, timeout: float) -> bool:
        """Block until rung or `timeout` seconds; True when rung. Every ring waiting is
        answered at once."""
        ready, _, _ = select.select([self._read], [], [], timeout)
        if not ready:
            return False
        try:
            return bool(os.read(self._read, 65536))
        except BlockingIOError:  # another work process answered it
            return False

    def close(self) -> None:
        for fd in (self._read, self._write):
            with contextlib.suppress(OSError):
                os.close(fd)
