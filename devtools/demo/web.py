"""The page's HTTP server: static files from devtools/demo/static, a small JSON API the page
calls (each call becomes Slack's signed request in `Sandbox`), and exported files."""

from __future__ import annotations

import json
import mimetypes
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlparse

from devtools.demo.sandbox import DemoError, Sandbox

STATIC = Path(__file__).resolve().parent / "static"
LONG_POLL_SECONDS = 20.0


class PageServer:
    def __init__(self, sandbox: Sandbox, *, host: str = "127.0.0.1", port: int = 8080) -> None:
        self.sandbox = sandbox
        handler = _handler(sandbox)
        self.server = _Server((host, port), handler)
        self.server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, name="demo-page", daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Server(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:
        # A browser that navigates away drops its long poll; that is not an error.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler(sandbox: Sandbox) -> type[BaseHTTPRequestHandler]:
    def post_actions() -> dict[str, Any]:
        return {
            "/api/command": lambda b: sandbox.command(
                b["user"], b["channel"], b["text"], b.get("thread_ts") or None
            ),
            "/api/message": lambda b: sandbox.message(
                b["user"], b["channel"], b["text"], b.get("thread_ts") or None
            ),
            "/api/action": lambda b: sandbox.action(
                b["user"], b["where"], b["action"], b.get("values") or {}
            ),
            "/api/submit": lambda b: sandbox.submit(b["user"], b["view_id"], b.get("values") or {}),
            "/api/close": lambda b: sandbox.close(b["user"], b["view_id"]),
            "/api/home": lambda b: sandbox.home_opened(b["user"]),
            "/api/clock": lambda b: sandbox.advance(int(b["seconds"])),
            "/api/outage": lambda b: sandbox.outage(int(b["status"]), float(b.get("seconds") or 30)),
            "/api/seed": lambda b: sandbox.seed(),
            "/api/reset": lambda b: (sandbox.reset(), {"ok": True})[1],
        }

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *_args: Any) -> None:
            pass

        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            if url.path == "/" or url.path.startswith("/archives/"):
                self._file(STATIC / "index.html")
            elif url.path.startswith("/static/"):
                name = url.path.removeprefix("/static/")
                path = (STATIC / name).resolve()
                if STATIC not in path.parents or not path.is_file():
                    self._send(404, b"not found", "text/plain")
                else:
                    self._file(path)
            elif url.path == "/api/state":
                since = int(query.get("since") or -1)
                if since >= 0:
                    sandbox.workspace.wait_change(since, LONG_POLL_SECONDS)
                self._json(lambda: sandbox.state(query.get("user", "")))
            elif url.path.startswith("/files/"):
                found = sandbox.workspace.file(url.path.removeprefix("/files/"))
                if found is None:
                    self._send(404, b"no such file", "text/plain")
                    return
                name, content = found
                kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
                self._send(
                    200,
                    content,
                    kind,
                    {"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
                )
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send(400, b'{"ok": false, "error": "bad json"}', "application/json")
                return
            action = post_actions().get(urlparse(self.path).path)
            if action is None:
                self._send(404, b"not found", "text/plain")
                return
            self._json(lambda: action(body))

        def _json(self, produce) -> None:
            try:
                status, data = 200, produce()
            except DemoError as err:
                status, data = 400, {"ok": False, "error": str(err)}
            except (KeyError, ValueError, TypeError) as err:
                status, data = 400, {"ok": False, "error": f"bad request: {err}"}
            except Exception as err:  # the page shows it; the demo keeps running
                traceback.print_exc()
                status, data = 500, {"ok": False, "error": str(err)}
            self._send(status, json.dumps(data).encode(), "application/json")

        def _file(self, path: Path) -> None:
            kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            self._send(200, path.read_bytes(), kind + ("; charset=utf-8" if kind.startswith("text") else ""))

        def _send(self, status: int, body: bytes, kind: str, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

    return Handler
