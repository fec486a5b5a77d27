"""Starting the app as a real process, for tests and benchmarks: a free port, and waiting
until its health check answers."""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request


class NotHealthy(RuntimeError):
    """The process exited or never answered /healthz; the message carries its stderr."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_healthy(port: int, process: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            if process is not None and process.poll() is not None:
                stderr = process.stderr.read() if process.stderr else ""
                raise NotHealthy(f"process exited with {process.returncode}: {stderr}") from None
            time.sleep(0.2)
    raise NotHealthy(f"nothing healthy on port {port} after {timeout:.0f} s")
