"""`python app.py`, as an operator runs it (HTTP mode, SQLite), for the demo: started in its
own process group so stopping it also stops its gunicorn workers, and restartable on a
wiped data directory (the demo's reset)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

from devtools.process import free_port, wait_healthy

ROOT = Path(__file__).resolve().parents[2]


class AppProcess:
    def __init__(self, *, workdir: Path, env: dict[str, str], port: int | None = None) -> None:
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.log_path = workdir / "app.log"
        self.port = port or free_port()
        self.extra_env = env
        self.process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    @property
    def events_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    def env(self) -> dict[str, str]:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("SLACK_", "CARETHREAD_", "DATABASE_URL", "WEB_", "FAKETIME", "LD_PRELOAD"))
        }
        env.update(
            {
                "PORT": str(self.port),
                "SLACK_APP_TOKEN": "",  # HTTP mode, whatever a .env says
                "DATABASE_URL": f"sqlite:///{self.data_dir / 'carethread.db'}",
                "CARETHREAD_DATA_DIR": str(self.data_dir),
                "WEB_WORKERS": "1",
                "CARETHREAD_ACCESS_LOG": "0",
            }
        )
        env.update(self.extra_env)
        return env

    def start(self, timeout: float = 60.0) -> None:
        with self._lock:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            log = self.log_path.open("ab")
            self.process = subprocess.Popen(
                [sys.executable, str(ROOT / "app.py")],
                cwd=ROOT,
                env=self.env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: Ctrl-C reaches the demo, which stops it in order
            )
            log.close()
            try:
                wait_healthy(self.port, self.process, timeout=timeout)
            except Exception as exc:
                self._stop()
                raise RuntimeError(f"the app did not start: {exc}\n{self.log_tail()}") from exc

    def stop(self) -> None:
        with self._lock:
            self._stop()

    def _stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=5)
        except ProcessLookupError:
            pass

    def wipe(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
