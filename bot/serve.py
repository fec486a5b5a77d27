"""HTTP serving with gunicorn (gthread workers), shared by app.py and the benchmark's bare app
so both are measured on the same server stack."""

from __future__ import annotations

import errno
import socket
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

WSGIApp = Callable[[dict[str, Any], Callable], Any]


def port_in_use(host: str, port: int) -> bool:
    """Whether something already listens on host:port. Checked before gunicorn starts, so a
    second copy of the app says so in one line instead of gunicorn's retries and traceback."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
        try:
            probe.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def serve_http(
    *,
    port: int,
    workers: int,
    threads: int,
    build: Callable[[], WSGIApp],
    host: str = "0.0.0.0",
    access_log: bool = True,
) -> None:
    """Run gunicorn until stopped. `build` runs in each worker after the fork, so every
    worker gets its own database pool. On SIGTERM the requests in flight are answered."""

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 30)
            self.cfg.set("graceful_timeout", 25)  # the requests in flight
            self.cfg.set("keepalive", 5)
            self.cfg.set("loglevel", "warning")  # app.py logs the one start-up line
            if access_log:
                self.cfg.set("accesslog", "-")

        def load(self) -> WSGIApp:
            return build()

    Server().run()
