"""HTTP serving with gunicorn (gthread workers), shared by app.py and the benchmark's bare app
so both are measured on the same server stack."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

WSGIApp = Callable[[dict[str, Any], Callable], Any]


def serve_http(
    *,
    port: int,
    workers: int,
    threads: int,
    build: Callable[[], WSGIApp],
    host: str = "0.0.0.0",
    access_log: bool = True,
    on_exit: Callable[[], None] | None = None,
) -> None:
    """Run gunicorn until stopped. `build` runs in each worker after the fork, so every
    worker gets its own database pool, relay thread and scheduler; `on_exit` runs in each
    worker when it stops (SIGTERM: after the requests in flight have been answered)."""

    def worker_exit(_server: Any, _worker: Any) -> None:
        if on_exit is not None:
            on_exit()

    class Server(BaseApplication):
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("worker_exit", worker_exit)
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 30)
            self.cfg.set("graceful_timeout", 25)  # requests in flight, then releasing claims (app.py)
            self.cfg.set("keepalive", 5)
            if access_log:
                self.cfg.set("accesslog", "-")

        def load(self) -> WSGIApp:
            return build()

    Server().run()
