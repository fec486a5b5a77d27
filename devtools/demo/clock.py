"""The demo's clock control: the app runs under libfaketime, whose offset is read from a file
on every call (FAKETIME_NO_CACHE=1), so moving time ahead is writing a new offset. The app
keeps using its ordinary SystemClock; nothing in it knows.

Where libfaketime is not installed (or does not work), `available` is False and the page
says the clock control is unavailable.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

SHIM = Path(__file__).resolve().parent / "faketime_shim"
LIBRARY_GLOBS = (
    "/usr/lib/*/faketime/libfaketime.so.1",
    "/usr/lib/faketime/libfaketime.so.1",
    "/usr/local/lib/faketime/libfaketime.so.1",
)


def find_library() -> str | None:
    for pattern in LIBRARY_GLOBS:
        for path in sorted(glob.glob(pattern)):
            return path
    return None


class DemoClock:
    def __init__(self, offset_file: Path) -> None:
        self.offset_file = offset_file
        self.library = find_library()
        self._offset = 0
        self._lock = threading.Lock()
        self.reason = (
            "" if self.library else "libfaketime is not installed (Debian: apt-get install faketime)"
        )
        self._write(0)
        self.available = False
        self.available = self.library is not None and self._works()

    @property
    def offset(self) -> int:
        with self._lock:
            return self._offset

    def now(self) -> float:
        """The app's time, as seconds since the epoch."""
        return time.time() + self.offset

    def env(self) -> dict[str, str]:
        """What the app's process needs to run on this clock (nothing when unavailable)."""
        if not self.available:
            return {}
        return self._preload()

    def _preload(self) -> dict[str, str]:
        assert self.library is not None
        return {
            "LD_PRELOAD": self.library,
            "FAKETIME_TIMESTAMP_FILE": str(self.offset_file),
            "FAKETIME_NO_CACHE": "1",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1",
            "NO_FAKE_STAT": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(SHIM), os.environ.get("PYTHONPATH", "")])),
        }

    def advance(self, seconds: int) -> int:
        if not self.available:
            raise RuntimeError(self.reason or "the clock control is unavailable")
        with self._lock:
            self._offset += int(seconds)
            self._write(self._offset)
            return self._offset

    def reset(self) -> None:
        with self._lock:
            self._offset = 0
            self._write(0)

    def _write(self, offset: int) -> None:
        tmp = self.offset_file.with_suffix(".tmp")
        tmp.write_text(f"{offset:+d}\n")
        os.replace(tmp, self.offset_file)  # readers never see a half-written offset

    def _works(self) -> bool:
        """Run a Python under the library with a day's offset: does it see the day, and can
        it still sleep?"""
        with tempfile.TemporaryDirectory() as tmp:
            probe = Path(tmp) / "offset"
            probe.write_text("+86400\n")
            env = {**os.environ, **self._preload(), "FAKETIME_TIMESTAMP_FILE": str(probe)}
            code = "import time; time.sleep(0.01); print(time.time())"
            try:
                out = subprocess.run(
                    [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=20
                )
                seen = float(out.stdout.strip())
            except (OSError, ValueError, subprocess.SubprocessError) as exc:
                self.reason = f"libfaketime did not work here ({exc})"
                return False
        if abs(seen - time.time() - 86400) > 60:
            self.reason = "libfaketime is installed but did not move the clock"
            return False
        return True
