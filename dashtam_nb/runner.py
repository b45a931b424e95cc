"""The one place that knows about event loops.

All database I/O runs on one private event loop per process, on a daemon
thread (the *owner loop*). Pooled engines are created and used only there, so
a pool is never shared between loops (a latent, load-dependent bug). Callers
reach it two ways:

* `run` blocks the calling thread until the coroutine finishes on the owner
  loop. It works in scripts, worker threads, notebook cells and inside other
  running loops. On ``KeyboardInterrupt`` it cancels the task, which makes
  psycopg cancel the query on the server.
* `arun` is awaited from any other loop (the kernel's, pytest-asyncio's,
  ``asyncio.run``'s). It waits in short slices so a kernel interrupt is seen
  at once (ipykernel#881 otherwise delays it until the query ends).

Nothing here patches asyncio; nest-asyncio is neither needed nor used.
See ``shared/notes/event-loops.md`` for the designs that were measured.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import os
import sys
import threading
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

T = TypeVar("T")

_WAKE_SECONDS = 0.25
_UNWIND_SECONDS = 5.0
_THREAD_NAME = "dashtam-db-loop"


class OwnerLoop:
    """A lazily started event loop on a daemon thread, recreated after fork."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._shutdown_hooks: list[Callable[[], Coroutine[Any, Any, None]]] = []

    def get(self) -> asyncio.AbstractEventLoop:
        """Return the owner loop, starting it on first use."""
        loop = self._loop
        if loop is not None and self._pid == os.getpid() and not loop.is_closed():
            return loop
        with self._lock:
            if self._loop is None or self._pid != os.getpid() or self._loop.is_closed():
                self._start()
            assert self._loop is not None
            return self._loop

    def _start(self) -> None:
        # psycopg refuses the proactor loop, the Windows default: pick the
        # selector loop explicitly (no global policy, deprecated in 3.14).
        loop = (
            asyncio.SelectorEventLoop()
            if sys.platform == "win32"
            else asyncio.new_event_loop()
        )
        ready = threading.Event()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=serve, name=_THREAD_NAME, daemon=True)
        thread.start()
        ready.wait()
        self._loop, self._thread, self._pid = loop, thread, os.getpid()

    def is_current(self) -> bool:
        """True when called from code running on the owner loop itself."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            return False
        return running is self._loop and self._pid == os.getpid()

    def on_shutdown(self, hook: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Register a coroutine function to await on the loop at exit."""
        self._shutdown_hooks.append(hook)

    def shutdown(self) -> None:
        """Run the shutdown hooks on the loop, then stop it (idempotent)."""
        loop = self._loop
        if loop is None or loop.is_closed() or self._pid != os.getpid():
            return
        for hook in list(self._shutdown_hooks):
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(hook(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=5)
        if not loop.is_running():
            loop.close()
        self._loop = None


_OWNER = OwnerLoop()
atexit.register(_OWNER.shutdown)


def owner_loop() -> asyncio.AbstractEventLoop:
    """The process's owner loop (started on first use)."""
    return _OWNER.get()


def on_owner_loop() -> bool:
    """True when the caller runs on the owner loop."""
    return _OWNER.is_current()


def on_shutdown(hook: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Await ``hook()`` on the owner loop when the process exits."""
    _OWNER.on_shutdown(hook)


def run(coro: Coroutine[Any, Any, T], *, timeout: float | None = None) -> T:
    """Run ``coro`` on the owner loop and block until it finishes.

    Args:
        coro: the coroutine; it must not be awaited elsewhere.
        timeout: seconds to wait; on expiry the work is cancelled and
            `TimeoutError` is raised.

    Raises:
        RuntimeError: when called from the owner loop (it would deadlock;
            use ``await`` there).
    """
    loop = _OWNER.get()
    if _OWNER.is_current():
        coro.close()
        raise RuntimeError(
            "dashtam_nb.run() was called from the database loop itself; "
            "use `await` there instead"
        )
    finished: concurrent.futures.Future[None] = concurrent.futures.Future()
    future = asyncio.run_coroutine_threadsafe(_tracked(coro, finished), loop)
    try:
        return future.result(timeout)
    except BaseException:
        # KeyboardInterrupt, timeout: cancelling the task makes psycopg send
        # a cancel request, so the query stops on the server too. Wait for it
        # to unwind, so the next call finds the connection back in the pool.
        future.cancel()
        with contextlib.suppress(BaseException):
            finished.result(_UNWIND_SECONDS)
        raise


async def arun(coro: Coroutine[Any, Any, T]) -> T:
    """Await ``coro`` on the owner loop from any event loop."""
    loop = _OWNER.get()
    if _OWNER.is_current():
        return await coro
    finished: concurrent.futures.Future[None] = concurrent.futures.Future()
    cfuture = asyncio.run_coroutine_threadsafe(_tracked(coro, finished), loop)
    wrapped = asyncio.wrap_future(cfuture)
    try:
        while True:
            # Short slices keep the caller's loop awake, so a kernel interrupt
            # (delivered to the main thread) is handled within ~0.25 s.
            done, _ = await asyncio.wait({wrapped}, timeout=_WAKE_SECONDS)
            if done:
                return wrapped.result()
    except BaseException:
        cfuture.cancel()
        # Let the cancelled work unwind on the owner loop (psycopg cancels the
        # query, SQLAlchemy invalidates the connection) before the caller's
        # cleanup, e.g. a rollback, touches the same connection.
        with contextlib.suppress(BaseException):
            await asyncio.wait({asyncio.wrap_future(finished)}, timeout=_UNWIND_SECONDS)
        raise


async def _tracked(
    coro: Coroutine[Any, Any, T], finished: concurrent.futures.Future[None]
) -> T:
    """Await ``coro``, then mark ``finished`` however it ended."""
    try:
        return await coro
    finally:
        finished.set_result(None)
