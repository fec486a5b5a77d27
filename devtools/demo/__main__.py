"""`make demo` / `python -m devtools.demo`: start the stand-in Slack, the app and the page;
print the page's address; Ctrl-C stops all three.

DEMO_PORT (default 8080) is the page's port. DEMO_DATA_DIR keeps the app's SQLite database
and keys there (e.g. `demo/`); by default a temporary directory is used and removed.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

from devtools.demo.clock import DemoClock
from devtools.demo.sandbox import Sandbox
from devtools.demo.web import PageServer
from devtools.demo.workspace import Workspace


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT") or 8080))
    parser.add_argument("--data-dir", default=os.environ.get("DEMO_DATA_DIR") or None)
    parser.add_argument("--seed", action="store_true", help="load the demo data at start")
    options = parser.parse_args(argv)

    temporary = options.data_dir is None
    workdir = Path(tempfile.mkdtemp(prefix="carethread-demo-") if temporary else options.data_dir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())

    clock = DemoClock(workdir / "clock-offset")
    workspace = Workspace(now=clock.now).serve()
    sandbox = Sandbox(workdir=workdir, secret=secrets.token_hex(16), clock=clock, workspace=workspace)
    page: PageServer | None = None
    try:
        page = PageServer(sandbox, port=options.port)
        workspace.page_url = page.url
        print("CareThread demo: starting the app ...", flush=True)
        sandbox.start()
        page.start()
        if options.seed:
            sandbox.seed()
        if not clock.available:
            print(f"  clock control unavailable: {clock.reason}", flush=True)
        print(f"\n  CareThread demo on {page.url}  (Ctrl-C to stop)\n", flush=True)
        print(
            f"  app on {sandbox.app.events_url.removesuffix('/slack/events')}, log: {sandbox.app.log_path}",
            flush=True,
        )
        stop.wait()
    except KeyboardInterrupt:
        pass
    except OSError as err:
        print(f"carethread demo: {err} (is port {options.port} free? set DEMO_PORT)", file=sys.stderr)
        return 1
    except RuntimeError as err:
        print(f"carethread demo: {err}", file=sys.stderr)
        return 1
    finally:
        print("\nStopping ...", flush=True)
        sandbox.stop()
        if page is not None:
            page.close()
        workspace.close()
        if temporary:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
