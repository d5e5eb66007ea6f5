"""A forked process pool for the bulk load's CPU-bound phases, with bounded work in flight.

Why fork: the phases work on large in-memory state (the prepared records, the clustering, the
loaded match model and survivorship rules). Forked children inherit it copy-on-write, so a task
is only a slice description and the answer is compact (prepared records, or finished COPY text);
nothing large is pickled towards the children. Why bounded: ``Pool.imap`` pulls its whole input
iterator at once, which would read the entire file into the task queue; here at most
``2 × workers`` tasks are outstanding, so the file is still streamed. A caller whose tasks are
small and whose results it consumes slowly (the bulk clustering's replay) widens the window so
the pool keeps working meanwhile.

Children never touch the database (inherited connections are left alone; pool children leave
with ``os._exit``), but they hold copies of the parent's sockets: a child that outlived its
parent would keep the load's PostgreSQL connection open, so its transaction would neither
commit nor roll back and its locks would stop the load's retry. A child therefore exits when
the parent dies (:func:`_exit_with_parent`). Where ``fork`` is unavailable, or with
one worker, tasks run in-process.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

_STATE: dict[str, Any] = {}


def state() -> dict[str, Any]:
    """The state the current pool was started with (in a child: inherited at fork)."""
    return _STATE


Mapper = Callable[..., Iterator[Any]]


def _exit_with_parent(parent: int, interval: float = 0.5) -> None:
    """Pool child: exit within ``interval`` seconds of the parent process's death.

    Why: a work-horse killed mid-load (SIGKILL, the OOM killer) left its pool children running,
    blocked on a task pipe that other children also keep open, and holding the inherited socket
    of the load's PostgreSQL connection — the server never saw it close, the load's transaction
    stayed open with its locks, and the retry waited on them for good.

    Why a watching thread and not ``PR_SET_PDEATHSIG``: the kernel sends that signal when the
    forking *thread* ends, and the pool forks replacement children (``tasks_per_child``) from its
    helper thread, which ends when the pool closes. An idle child killed then may hold the task
    queue's read lock, and ``Pool.terminate`` waited for it for good — every bulk load that
    renewed children hung at the end of its write phase. A dead parent's children are adopted by
    another process, so a changed ``getppid`` is the parent's death, whichever thread forked.
    """
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="mdm-parent-watch", daemon=True).start()


def _child_init(parent: int) -> None:
    """Pool child initializer: signals as a plain process, and an exit with the parent."""
    _default_signals()
    _exit_with_parent(parent)


def _default_signals() -> None:
    """Pool child (from :func:`_child_init`): SIGTERM kills the child again.

    A child inherits its parent's signal handlers. Under ``mdm worker`` (an API load) the parent
    is an RQ worker whose SIGTERM handler only asks for a warm shutdown; ``Pool.terminate`` stops
    children with SIGTERM, so an idle child kept waiting for work and the load hung in
    ``Pool.join`` for good (seen in the benchmark: one run in three). Children never need a
    graceful stop: their results are only used once returned.

    The parent forks its children with SIGTERM blocked (:func:`_sigterm_blocked`), so one that
    arrives before this initializer has run stays pending and kills the child once unblocked
    here: a child not yet scheduled when the pool was terminated kept the parent's handler and
    hung the join (the unit test, under a loaded test run).
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


@contextmanager
def _sigterm_blocked() -> Iterator[None]:
    """SIGTERM blocked in this thread meanwhile: threads and processes started meanwhile (the
    pool's children and its helper threads, which fork replacement children) inherit the mask;
    a SIGTERM for this process is delivered to it after, not lost."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _inline_map(fn: Callable[[Any], Any], tasks: Iterable[Any], window: int | None = None) -> Iterator[Any]:
    for task in tasks:
        yield fn(task)


@contextmanager
def forked_pool(workers: int, tasks_per_child: int | None = None, **shared: Any) -> Iterator[Mapper]:
    """Yield an ordered, lazily consuming ``map(fn, tasks, window=None)`` running on ``workers``
    forked processes.

    ``fn`` must be a module-level function; it reads ``shared`` through :func:`state`.
    ``window``: tasks submitted ahead of the result being read (default ``2 × workers``).
    ``tasks_per_child``: replace a child by a fresh fork after that many tasks. Copy-on-write
    is undone by reference counting — every object a child merely reads gets its page copied —
    so a long-lived child slowly duplicates the parent's heap (measured at 1,000,000 records:
    gigabytes per child); a fresh fork starts again from shared pages.
    """
    _STATE.clear()
    _STATE.update(shared)
    if workers <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        try:
            yield _inline_map
        finally:
            _STATE.clear()
        return
    with _sigterm_blocked():
        pool = multiprocessing.get_context("fork").Pool(workers, initializer=_child_init, initargs=(os.getpid(),),
                                                        maxtasksperchild=tasks_per_child)

    def ordered_map(fn: Callable[[Any], Any], tasks: Iterable[Any], window: int | None = None) -> Iterator[Any]:
        inflight = max(1, window or 2 * workers)
        pending: deque[Any] = deque()
        for task in tasks:
            pending.append(pool.apply_async(fn, (task,)))
            if len(pending) >= inflight:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()

    try:
        yield ordered_map
        pool.close()
    finally:
        pool.terminate()
        pool.join()
        _STATE.clear()


__all__ = ["Mapper", "forked_pool", "state"]
