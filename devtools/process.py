"""Starting the app as a real process, for tests and benchmarks: its environment, a free
port, and waiting until its health check answers."""

from __future__ import annotations

import os
import socket
import subprocess
import time
import urllib.request


class NotHealthy(RuntimeError):
    """The process exited or never answered /healthz; the message carries its stderr."""


def app_env(keep: tuple[str, ...] = (), **settings: str) -> dict[str, str]:
    """The environment for an app process started by a test or a benchmark: this process's
    environment without any Slack, CareThread or database setting (except the names in
    `keep`), no `.env` file (CARETHREAD_DOTENV empty: a developer's `.env` in the project
    root must not change the outcome), and `settings`."""
    env = {
        name: value
        for name, value in os.environ.items()
        if name in keep or not name.startswith(("SLACK_", "CARETHREAD_", "DATABASE_URL"))
    }
    env["CARETHREAD_DOTENV"] = ""
    env.update(settings)
    return env


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
