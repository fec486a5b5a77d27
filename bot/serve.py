"""HTTP serving with gunicorn (gthread workers), shared by app.py and the benchmark's bare app
so both are measured on the same server stack."""

from __future__ import annotations

import errno
import logging
import re
import socket
from collections.abc import Callable
from typing import Any

from gunicorn.app.base import BaseApplication

from bot.logsafe import drop_exception_text

WSGIApp = Callable[[dict[str, Any], Callable], Any]


def bind_address(host: str, port: int) -> str:
    """gunicorn's `bind` for HOST and PORT: an IPv6 address in brackets ([::1]:3000)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class NoRequestBytes(logging.Filter):
    """gunicorn logs a request it could not parse as "Invalid request from ip=...: <error>",
    and the error quotes the bytes it choked on: a request line, a header, or a chunk-size
    line, which can be the first bytes of a body. Kept: the address and the kind of error
    ("Invalid chunk size"); and tracebacks lose their messages (bot/logsafe.py)."""

    START = "Invalid request from ip="
    QUOTED = re.compile(r"""(:\s*)?b?['"]""")  # gunicorn quotes what it read with %r

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message.startswith(self.START):
            where, _, error = message.partition(": ")
            kind = self.QUOTED.split(error, maxsplit=1)[0].strip()
            record.msg, record.args = f"{where}: {kind} (request bytes not logged)", ()
        drop_exception_text(record)
        return True


def quiet_gunicorn() -> None:
    """Put `NoRequestBytes` on gunicorn's error log (once)."""
    logger = logging.getLogger("gunicorn.error")
    if not any(isinstance(f, NoRequestBytes) for f in logger.filters):
        logger.addFilter(NoRequestBytes())


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
            self.cfg.set("bind", bind_address(host, port))
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

    quiet_gunicorn()
    Server().run()
