# Size: the owner loop, both hops and the one twin maker belong together.
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

Both are *the hop*: the one place where package coroutines cross to the
owner loop, and so the one error boundary. A driver, SQLAlchemy or pyarrow
error leaving the owner loop is mapped to a `DashtamError` here (by
`errors.translate`); call sites do not catch and map by hand.

**The twin rule.** Async code is the source. Every public coroutine
function ``aX`` (an analyst verb: ``aframe``, ``aupgrade``, ``afetch_frame``)
gets its blocking twin ``X`` from `blocking`, never by hand; an async
generator ``aX`` gets a plain generator ``X`` the same way. The guide's own
async API keeps the guide's names and has no blocking twin: ``get_session``
and ``transaction`` are scopes that work with both ``with`` and ``async
with``, repository methods and ``Database.close`` are awaited (wrap them in
`run` to call them without ``await``). Objects that hold resources work as
``with`` and ``async with`` blocks.

Nothing here patches asyncio; nest-asyncio is neither needed nor used.
See ``shared/notes/event-loops.md`` for the designs that were measured.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import functools
import inspect
import math
import os
import sys
import threading
import time
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from dashtam_nb.errors import ValidationError, translate
from dashtam_nb.interrupts import interrupt_error, sigints

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Coroutine, Iterator

__all__ = [
    "OwnerLoop",
    "arun",
    "blocking",
    "on_owner_loop",
    "on_shutdown",
    "owner_loop",
    "run",
    "twin_of",
]

T = TypeVar("T")
P = ParamSpec("P")

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


def _mapped(exc: Exception, target: str | None) -> BaseException:
    """The hop's error boundary: our error for a driver error, else ``exc``."""
    return translate(exc, target=target or "the database")


def run(
    coro: Coroutine[Any, Any, T],
    *,
    timeout: float | None = None,
    target: str | None = None,
) -> T:
    """Run ``coro`` on the owner loop and block until it finishes.

    Args:
        coro: the coroutine; it must not be awaited elsewhere.
        timeout: seconds to wait; on expiry the work is cancelled and
            `TimeoutError` is raised.
        target: a secret-free name of the database, for connect errors.

    Raises:
        RuntimeError: when called from the owner loop (it would deadlock;
            use ``await`` there).
    """
    _check_coro(coro)
    _check_target(coro, target)
    if timeout is not None:
        _check_timeout(coro, timeout)
    loop = _OWNER.get()
    if _OWNER.is_current():
        coro.close()
        raise RuntimeError(
            "dashtam_nb.run() was called from the database loop itself; "
            "use `await` there instead"
        )
    finished: concurrent.futures.Future[None] = concurrent.futures.Future()
    started = time.monotonic()
    future = asyncio.run_coroutine_threadsafe(_tracked(coro, finished), loop)
    try:
        return future.result(timeout)
    except Exception as exc:
        if isinstance(exc, concurrent.futures.TimeoutError):
            _cancel(future, finished)
            raise
        mapped = _mapped(exc, target)
        if mapped is exc:
            raise
        raise mapped from None
    except BaseException as exc:
        # KeyboardInterrupt: cancelling the task makes psycopg send a cancel
        # request, so the query stops on the server too. Wait for it to
        # unwind, so the next call finds the connection back in the pool.
        elapsed = time.monotonic() - started
        stopped = _cancel(future, finished)
        error = (
            interrupt_error(elapsed, stopped=stopped)
            if isinstance(exc, KeyboardInterrupt)
            else None
        )
        if error is None:
            raise
        raise error from None


def _check_coro(coro: object) -> None:
    if not asyncio.iscoroutine(coro):
        raise ValidationError(
            "expected a coroutine: call the async function, e.g. run(db.aframe(sql))",
            field="coro",
        )


def _check_timeout(coro: Coroutine[Any, Any, Any], timeout: object) -> None:
    if (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or not 0 < timeout <= threading.TIMEOUT_MAX
    ):
        coro.close()  # never awaited: close it, so no warning follows
        raise ValidationError(
            "timeout must be a positive number of seconds", field="timeout"
        )


def _check_target(coro: Coroutine[Any, Any, Any], target: object) -> None:
    if target is not None and not isinstance(target, str):
        coro.close()
        raise ValidationError("target must be a string or None", field="target")


def _cancel(
    future: concurrent.futures.Future[Any], finished: concurrent.futures.Future[None]
) -> bool:
    """Cancel the work and wait for it to unwind; True when it did."""
    future.cancel()
    with contextlib.suppress(BaseException):
        finished.result(_UNWIND_SECONDS)
    return finished.done()


async def arun(coro: Coroutine[Any, Any, T], *, target: str | None = None) -> T:
    """Await ``coro`` on the owner loop from any event loop (the async hop).

    Args:
        coro: the coroutine; it must not be awaited elsewhere.
        target: a secret-free name of the database, for connect errors;
            given, errors are mapped here even on the owner loop (a twin's
            outer hop does not know the database).
    """
    _check_coro(coro)
    _check_target(coro, target)
    if _OWNER.is_current() and target is None:
        # Not a crossing: errors are mapped where the work leaves the loop.
        return await coro
    try:
        return await _arun(coro)
    except Exception as exc:
        mapped = _mapped(exc, target)
        if mapped is exc:
            raise
        raise mapped from None


async def _arun(coro: Coroutine[Any, Any, T]) -> T:
    loop = _OWNER.get()
    if _OWNER.is_current():
        return await coro
    finished: concurrent.futures.Future[None] = concurrent.futures.Future()
    started, seen = time.monotonic(), sigints().seen
    cfuture = asyncio.run_coroutine_threadsafe(_tracked(coro, finished), loop)
    wrapped = asyncio.wrap_future(cfuture)
    try:
        with sigints().watching():
            while True:
                # Short slices keep the caller's loop awake, so a kernel
                # interrupt (delivered to the main thread) is seen in ~0.25 s.
                done, _ = await asyncio.wait({wrapped}, timeout=_WAKE_SECONDS)
                if done:
                    return wrapped.result()
    except BaseException as exc:
        elapsed = time.monotonic() - started
        cfuture.cancel()
        # Let the cancelled work unwind on the owner loop (psycopg cancels the
        # query, SQLAlchemy invalidates the connection) before the caller's
        # cleanup, e.g. a rollback, touches the same connection.
        with contextlib.suppress(BaseException):
            await asyncio.wait({asyncio.wrap_future(finished)}, timeout=_UNWIND_SECONDS)
        interrupted = sigints().seen != seen and isinstance(
            exc, asyncio.CancelledError | KeyboardInterrupt
        )
        error = (
            interrupt_error(elapsed, stopped=finished.done()) if interrupted else None
        )
        if error is None:
            raise
        task = asyncio.current_task()
        if task is not None and isinstance(exc, asyncio.CancelledError):
            task.uncancel()  # the interrupt is answered by the error below
        raise error from None


async def _tracked(
    coro: Coroutine[Any, Any, T], finished: concurrent.futures.Future[None]
) -> T:
    """Await ``coro``, then mark ``finished`` however it ended."""
    try:
        return await coro
    finally:
        finished.set_result(None)


@overload
def blocking(afn: Callable[P, Coroutine[Any, Any, T]]) -> Callable[P, T]: ...
@overload
def blocking(afn: Callable[P, AsyncIterator[T]]) -> Callable[P, Iterator[T]]: ...
def blocking(afn: Callable[P, Any]) -> Callable[P, Any]:
    """The blocking twin of an async verb: the one twin maker (see the rule above).

    A coroutine function ``aX`` becomes a plain function running it on the
    owner loop; an async generator function becomes a plain generator that
    pulls each item through the owner loop and closes the async one when
    abandoned. Works for functions and, used in a class body, for methods.
    The twin is named ``X`` and remembers its source (`twin_of`).
    """
    if inspect.isasyncgenfunction(afn):

        def iterate(*args: P.args, **kwargs: P.kwargs) -> Iterator[Any]:
            agen = afn(*args, **kwargs)
            try:
                while True:
                    try:
                        item = run(_anext(agen))
                    except StopAsyncIteration:
                        return
                    yield item
            finally:
                run(agen.aclose())

        twin: Callable[P, Any] = iterate
    elif inspect.iscoroutinefunction(afn):

        def call(*args: P.args, **kwargs: P.kwargs) -> Any:
            return run(afn(*args, **kwargs))

        twin = call
    else:
        raise TypeError(f"{afn!r} is not an async function")
    functools.update_wrapper(twin, afn)
    name = afn.__name__.removeprefix("a")
    twin.__name__ = name
    twin.__qualname__ = (
        afn.__qualname__.rpartition(".")[0] + "." + name
        if "." in afn.__qualname__
        else name
    )
    twin.__doc__ = f"Blocking form of `{afn.__name__}`.\n\n{afn.__doc__ or ''}"
    twin.__dashtam_twin_of__ = afn  # type: ignore[attr-defined]
    return twin


async def _anext(agen: AsyncIterator[T]) -> T:
    return await agen.__anext__()


def twin_of(fn: object) -> Callable[..., Any] | None:
    """The async verb ``fn`` was made from by `blocking`, or None."""
    return getattr(fn, "__dashtam_twin_of__", None)
