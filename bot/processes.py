"""HTTP mode's processes: a web server that only acknowledges, and work processes that work.

The web server (gunicorn: WEB_WORKERS processes of WEB_THREADS threads) checks each request,
saves it to the inbox and answers Slack. WORK_PROCESSES work processes run the inbox
workers, the outbox relay and the scheduled sweeps; a web process rings the doorbell
(bot/doorbell.py) when it has saved a request. Kept apart, an acknowledgement never waits
for Python's GIL behind another request's work: in one process, the ack's own 0.6 ms of CPU
became a 17 ms median at one client (README, Performance).

This process supervises them. It forks them (the app is already imported and checked by
then), restarts a work process that dies, after a pause so a crash loop does not spin, and
on SIGTERM or SIGINT passes the signal on and waits for every child: gunicorn answers the
requests in flight, each work process finishes what it holds and releases its claims. When
the web server exits, everything stops. Each child asks the kernel for SIGTERM should this
process die (Linux), so a supervisor killed outright leaves nothing running on its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

log = logging.getLogger(__name__)

RESTART_PAUSE_SECONDS = 1.0  # doubled for each quick failure in a row (say, the database is down)
MAX_RESTART_PAUSE_SECONDS = 30.0
RAN_LONG_ENOUGH_SECONDS = 60.0  # a process that ran this long died of something new: pause afresh
SIGNALS = (signal.SIGTERM, signal.SIGINT)
WEB = "web"
PR_SET_PDEATHSIG = 1


def supervise(*, web: Callable[[], int], work: Callable[[int], int], work_processes: int) -> int:
    """Run `web` and `work_processes` copies of `work` (given their number) in child
    processes until the web server exits or a signal stops them all. Returns the web
    server's exit code (0 after SIGTERM)."""
    children: dict[int, str | int] = {}
    started: dict[str | int, float] = {}
    pauses: dict[str | int, float] = {}
    stopping = False
    stopped = threading.Event()  # wakes a restart's pause at once
    supervisor = os.getpid()

    def spawn(role: str | int) -> None:
        # A SIGTERM between the fork and the bookkeeping would miss the new child: held till then.
        signal.pthread_sigmask(signal.SIG_BLOCK, SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:  # the child: never returns into the supervisor's loop
                os._exit(_run_child(supervisor, lambda: web() if role == WEB else work(int(role))))
            children[pid], started[role] = role, time.monotonic()
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)

    def stop_all(signum: int, _frame: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        stopped.set()
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)

    previous = {sig: signal.signal(sig, stop_all) for sig in SIGNALS}
    exit_code = 0
    try:
        for n in range(work_processes):
            spawn(n)
        spawn(WEB)
        while children:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            role = children.pop(pid, None)
            if role is None:
                continue
            code = os.waitstatus_to_exitcode(status)
            if stopping:
                continue
            if role == WEB:
                log.error("the web server exited (%s); stopping the work process(es)", code)
                exit_code = code
                stop_all(signal.SIGTERM)
                continue
            ran = time.monotonic() - started[role]
            pause = (
                RESTART_PAUSE_SECONDS
                if ran >= RAN_LONG_ENOUGH_SECONDS
                else min(pauses.get(role, RESTART_PAUSE_SECONDS / 2) * 2, MAX_RESTART_PAUSE_SECONDS)
            )
            pauses[role] = pause
            log.error("work process %s exited (%s); starting it again in %.0f s", role, code, pause)
            stopped.wait(pause)
            if not stopping:
                spawn(role)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return exit_code


class Heartbeat:
    """A file in the data directory that the work processes touch every HEARTBEAT_SECONDS.

    The web server's /healthz answers 503 once it is older than STALE_SECONDS: a replica whose
    web server acknowledges requests that no work process takes (one that keeps dying at
    start) must look unhealthy to the load balancer and the orchestrator, not healthy."""

    HEARTBEAT_SECONDS = 5.0
    STALE_SECONDS = 30.0

    def __init__(self, path: Path) -> None:
        self.path = path

    def beat(self) -> None:
        """The time written is this process's own clock, not the file system's: under the
        demo's shifted clock (libfaketime) both sides then agree."""
        now = time.time()
        try:
            self.path.touch()
            os.utime(self.path, (now, now))
        except OSError:
            log.exception("could not touch the work process heartbeat %s", self.path)

    def keep_beating(self, stop: threading.Event) -> threading.Thread:
        def run() -> None:
            while not stop.wait(self.HEARTBEAT_SECONDS):
                self.beat()

        self.beat()
        thread = threading.Thread(target=run, name="heartbeat", daemon=True)
        thread.start()
        return thread

    def fresh(self) -> bool:
        try:
            return time.time() - self.path.stat().st_mtime < self.STALE_SECONDS
        except OSError:
            return False


def stop_on_signal() -> threading.Event:
    """An event that SIGTERM or SIGINT sets, instead of ending the process where it stands:
    whoever waits on it (`wait_for_stop`) then stops in order and releases what it holds.
    Called in the main thread, before anything is claimed."""
    stop = threading.Event()
    for sig in SIGNALS:
        signal.signal(sig, lambda *_: stop.set())
    return stop


def wait_for_stop(stop: threading.Event) -> None:
    """Block the main thread until `stop` is set. Short waits: the signal handler that sets
    it runs in this thread, between them."""
    while not stop.wait(1.0):
        pass


def settle_heap() -> None:
    """Once a process has built the app, before its first request: what start-up made (the
    app, templates, SQLAlchemy's mappers, imported modules) lives as long as the process, so
    it is moved out of the garbage collector's sight. Its full collections then walk only
    what requests leave behind, instead of stopping every thread for tens of milliseconds
    to look at the whole app again (at 32 clients, ack p99 ~115 -> ~78 ms)."""
    gc.collect()
    gc.freeze()


def _run_child(supervisor: int, main: Callable[[], int]) -> int:
    for sig in SIGNALS:
        signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, SIGNALS)  # held in the fork: now they stop it
    _die_with(supervisor)
    try:
        return main()
    except SystemExit as exc:  # gunicorn ends with sys.exit
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        log.exception("a CareThread process failed")
        return 1
    finally:
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()


def _die_with(supervisor: int) -> None:
    """SIGTERM to this child when the supervisor dies (Linux's PR_SET_PDEATHSIG); elsewhere
    nothing. Checked once more afterwards: the supervisor may have died before the call."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        except (OSError, AttributeError):
            log.warning("could not ask to be stopped with the supervisor")
    if os.getppid() != supervisor:
        os._exit(0)
