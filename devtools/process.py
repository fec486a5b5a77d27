"""Starting the app as a real process, for tests and benchmarks: its environment, a free
port, and waiting until its health check answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")


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


ROOT = Path(__file__).resolve().parent.parent


def start_app(env: dict[str, str]) -> subprocess.Popen:
    """`python app.py` with `env` (PORT in it), in a process group of its own so a test can
    signal the supervisor and every process under it; returns once /healthz answers."""
    process = subprocess.Popen(
        [sys.executable, "app.py"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    wait_healthy(int(env["PORT"]), process)
    return process


def wait_until(condition: Callable[[], T], timeout: float, what: str) -> T:
    """Poll `condition` until it returns something true (returned), or fail saying `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")
