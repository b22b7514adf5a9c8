"""Run a function on items one at a time in a worker process, with a time limit per item.

A Voronoi tessellation can run for minutes, or for ever, inside C code (Qhull) that
neither a thread nor a signal can interrupt: the model server once hung on one
8-site structure and SIGTERM did not stop it. Here each item goes to a worker
process; an item that takes longer than ``timeout`` seconds gets a failure reason,
and its worker is killed and replaced, so the caller's time per item is bounded.

The worker is started from a ``forkserver`` (``spawn`` off Linux), never forked
from the caller: the model server runs threads, and a fork of a threaded process
can deadlock. A new worker imports the featurizer once (5-8 s on a busy 2-core machine:
the first call of ``benchmarks/bench_structure_cells.py`` before its warm-up was added)
and then serves every later item.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from typing import Any, Callable, Iterator, Sequence


def _serve(conn: Any, fn: Callable[[Any], Any], warm_up: Callable[[], Any] | None) -> None:
    if warm_up is not None:
        warm_up()  # imports and tables, before any item's clock starts
    conn.send(_READY)
    while True:
        try:
            item = conn.recv()
        except EOFError:
            return
        conn.send(fn(item))


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods and sys.platform.startswith("linux")
                                       else "spawn")


class BoundedRunner:
    """One worker process running ``fn`` (a picklable, module-level function), item by item; ``warm_up``
    (also module-level) runs once in each new worker before it takes items."""

    def __init__(self, fn: Callable[[Any], Any], warm_up: Callable[[], Any] | None = None):
        self.fn = fn
        self.warm_up = warm_up
        self._ctx = _context()
        self._conn: Any = None
        self._process: Any = None
        self._lock = threading.Lock()  # one caller at a time: the worker serves items in order

    def _start(self) -> str | None:
        """Start a worker and wait for it to be ready; None, or why it did not start."""
        self._conn, child = self._ctx.Pipe()
        self._process = self._ctx.Process(target=_serve, args=(child, self.fn, self.warm_up), daemon=True,
                                          name="irnet-featurize")
        self._process.start()
        child.close()
        try:
            if self._conn.poll(STARTUP_SECONDS) and self._conn.recv() == _READY:
                return None
        except (EOFError, OSError):
            pass
        self._stop()
        return f"the featurizer's worker process did not start within {STARTUP_SECONDS:g} s"

    def _stop(self) -> None:
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(5)
            self._conn.close()
        self._process = self._conn = None

    def run(self, items: Sequence[Any], timeout: float) -> Iterator[tuple[int, Any, str | None]]:
        """Yield ``(index, fn(item), None)`` in order, or ``(index, None, reason)`` for an item that took
        longer than ``timeout`` seconds or whose worker died (a new worker's start-up is not counted)."""
        with self._lock:
            for i, item in enumerate(items):
                if self._process is None or not self._process.is_alive():
                    self._stop()
                    failed = self._start()
                    if failed:
                        yield i, None, failed
                        continue
                try:
                    self._conn.send(item)
                    if self._conn.poll(timeout):
                        yield i, self._conn.recv(), None
                        continue
                    reason = (f"featurizing took longer than {timeout:g} s (the limit per structure); "
                              "its worker process was stopped")
                except (EOFError, OSError):
                    reason = "the featurizer's worker process died (a crash inside the tessellation, or out of memory)"
                self._stop()
                yield i, None, reason

    def close(self) -> None:
        with self._lock:
            self._stop()


# A new worker's imports and tables (pymatgen + matminer: ~3-8 s), not counted against any item.
STARTUP_SECONDS = 120.0
_READY = "ready"

__all__ = ["BoundedRunner", "STARTUP_SECONDS"]
