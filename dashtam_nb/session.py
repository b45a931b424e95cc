"""Sessions that work from any event loop, and the unit-of-work scope.

The guide's form ``async with db.get_session() as session: ...`` must work at
top level in a notebook cell, where the kernel's loop runs the code but the
pool lives on the owner loop. Inside the owner loop the real `AsyncSession` is
handed out; anywhere else a `HoppingSession` is, whose awaited methods run on
the owner loop (one hop each). Repository methods hop once for their whole
body (see `hops`), so a ``save`` is one hop, not three.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, cast

from dashtam_nb import runner
from dashtam_nb.errors import translate

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Coroutine
    from types import TracebackType

    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

__all__ = [
    "HoppingSession",
    "HoppingTransaction",
    "SessionScope",
    "hops",
    "real_session",
]

P = ParamSpec("P")
T = TypeVar("T")


class HoppingSession:
    """An `AsyncSession` stand-in whose awaited methods run on the owner loop.

    Plain methods (``add``, ``add_all``, ``expunge``) touch only in-memory state
    and are called directly. ``stream()`` is refused: an open server-side
    cursor cannot cross loops.
    """

    __slots__ = ("_real",)

    def __init__(self, real: AsyncSession) -> None:
        self._real = real

    @property
    def real(self) -> AsyncSession:
        """The `AsyncSession` that lives on the owner loop."""
        return self._real

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._real, name)
        if name in {"stream", "stream_scalars"}:
            raise AttributeError(
                f"session.{name}() cannot be used across event loops; use "
                "dashtam_nb.stream_frames() or run the code with dashtam_nb.run()"
            )
        if name in {"begin", "begin_nested"}:
            return lambda *a, **k: HoppingTransaction(attr(*a, **k))
        if inspect.iscoroutinefunction(getattr(type(self._real), name, None)):
            return hops(attr)
        return _translating(attr) if callable(attr) else attr

    def __repr__(self) -> str:
        return f"<HoppingSession active={self._real.is_active}>"


class HoppingTransaction:
    """``session.begin()`` / ``begin_nested()`` whose enter and exit hop.

    Without it, RELEASE / ROLLBACK TO SAVEPOINT would run on the caller's loop
    (works on Linux by luck; fails on a Windows proactor kernel loop).
    """

    __slots__ = ("_real",)

    def __init__(self, real: Any) -> None:
        self._real = real

    async def __aenter__(self) -> HoppingTransaction:
        await hops(self._real.__aenter__)()
        return self

    async def __aexit__(self, *exc: object) -> Any:
        return await hops(self._real.__aexit__)(*exc)

    async def commit(self) -> None:
        """Commit this (sub)transaction on the owner loop."""
        await hops(self._real.commit)()

    async def rollback(self) -> None:
        """Roll back this (sub)transaction on the owner loop."""
        await hops(self._real.rollback)()


def _translating(method: Callable[..., T]) -> Callable[..., T]:
    """Plain methods (``add`` after close) raise our errors too.

    A hand-written boundary: these calls never cross to the owner loop, so
    the hop cannot map their errors (tests/integration/test_database.py).
    """

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> T:
        try:
            return method(*args, **kwargs)
        except Exception as exc:
            raise translate(exc) from None

    return call


def real_session(session: AsyncSession | HoppingSession) -> AsyncSession:
    """The underlying `AsyncSession` of either kind of session."""
    return session.real if isinstance(session, HoppingSession) else session


def hops(
    method: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Run a whole async method on the owner loop: the one hop wrapper.

    Used on repository methods (one hop per call, whatever the number of
    statements) and on the awaited methods of `HoppingSession`. Errors are
    mapped by the hop itself (`runner.arun`).
    """

    @functools.wraps(method)
    async def call(*args: P.args, **kwargs: P.kwargs) -> T:
        return await runner.arun(method(*args, **kwargs))

    return call


class SessionScope:
    """``async with`` (or ``with``) block owning one session and transaction.

    Commits on clean exit; on any exception rolls back and re-raises, with
    database errors translated to `DashtamError`. The session is closed either
    way, so it cannot be used after the block.
    """

    def __init__(
        self,
        factory: Callable[[], Awaitable[async_sessionmaker[AsyncSession]]],
        target: str,
    ) -> None:
        self._factory = factory
        self._target = target
        self._session: AsyncSession | None = None

    async def _open(self) -> AsyncSession:
        maker = await self._factory()
        session = maker()
        try:
            # Connect now: a bad server fails at the `async with`, clearly.
            await session.connection()
        except BaseException:
            await session.close()
            raise
        return session

    async def _close(self, session: AsyncSession, failed: bool) -> None:
        try:
            if failed:
                # The block's own error is what the caller needs to see; a
                # failing rollback (dead connection) rolls back server-side.
                with contextlib.suppress(Exception):
                    await session.rollback()
            else:
                try:
                    await session.commit()
                except Exception as exc:
                    await session.rollback()
                    # By hand: only here is it known that the error came
                    # during COMMIT (the outcome is unknown, never retried).
                    raise translate(exc, during_commit=True) from None
        finally:
            await session.close()

    async def __aenter__(self) -> AsyncSession:
        self._session = await runner.arun(self._open(), target=self._target)
        if runner.on_owner_loop():
            return self._session
        return cast("AsyncSession", HoppingSession(self._session))

    def _finish(self, exc: BaseException | None) -> Coroutine[Any, Any, None] | None:
        """The closing coroutine for this scope (None if it never opened)."""
        session, self._session = self._session, None
        if session is None:
            return None
        return self._close(session, failed=exc is not None)

    @staticmethod
    def _reraise(exc: BaseException | None) -> None:
        """Re-raise a database error from the block as our own error.

        By hand: a block running on the owner loop itself (the work of
        `Database.arun_transaction`) must see `ConflictError` to retry, before
        any hop (tests/fault/test_fault_concurrency.py).
        """
        if isinstance(exc, Exception):
            mapped = translate(exc)
            if mapped is not exc:
                raise mapped from None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        closing = self._finish(exc)
        if closing is not None:
            await runner.arun(closing)
        self._reraise(exc)

    def __enter__(self) -> AsyncSession:
        session = runner.run(self._open(), target=self._target)
        self._session = session
        return cast("AsyncSession", HoppingSession(session))

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        closing = self._finish(exc)
        if closing is not None:
            runner.run(closing)
        self._reraise(exc)
