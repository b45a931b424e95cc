"""What Ctrl-C on a query becomes: one `QueryCancelledError` line, in IPython.

The runner stops the query either way (cancelling the owner-loop task makes
psycopg cancel it on the server). This module decides what the caller sees:

* In IPython (a Jupyter kernel, the terminal shell) the interrupted call
  raises ``QueryCancelledError: cancelled by interrupt after 2.1 s; the
  server stopped the query``, shown as that one line with the traceback kept
  for ``%tb`` (`magic.display.install_interrupt_display`, installed by the
  first interrupt, and only for that error: nothing changes on import, and
  no other error's display changes).
* Elsewhere (scripts, pytest, worker threads) ``KeyboardInterrupt`` and
  ``CancelledError`` pass through unchanged: a script's Ctrl-C must still
  stop the script, and ``except Exception`` must not swallow it.

A kernel interrupts an awaited cell by cancelling its task, which looks like
any other cancellation (a timeout, a task group). So while a hop waits in
IPython's main thread, `SigintWatch` counts the SIGINTs that arrive (and
passes each on to the handler that was there); a cancellation is an
interrupt only when the count moved.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import TYPE_CHECKING, Any

from dashtam_nb.errors import QueryCancelledError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

__all__ = ["SigintWatch", "interrupt_error", "shell", "sigints"]


def shell() -> Any | None:
    """The running IPython shell, or None (IPython is never imported here)."""
    ipython = sys.modules.get("IPython")
    get = getattr(ipython, "get_ipython", None)
    return get() if callable(get) else None


class SigintWatch:
    """Counts SIGINTs while a hop waits in IPython's main thread."""

    def __init__(self) -> None:
        self.seen = 0
        self._depth = 0
        self._previous: Any = None

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """Count SIGINTs in this block (a no-op outside IPython's main thread)."""
        if threading.current_thread() is not threading.main_thread() or (
            shell() is None
        ):
            yield
            return
        if self._depth == 0:
            self._previous = signal.getsignal(signal.SIGINT)
            signal.signal(signal.SIGINT, self._note)
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1
            # Restore only our own handler: one set meanwhile stays.
            if self._depth == 0 and signal.getsignal(signal.SIGINT) == self._note:
                signal.signal(signal.SIGINT, self._previous)

    def _note(self, signum: int, frame: FrameType | None) -> None:
        self.seen += 1
        previous = self._previous
        if callable(previous):
            previous(signum, frame)
        elif previous != signal.SIG_IGN:
            raise KeyboardInterrupt


_WATCH = SigintWatch()


def sigints() -> SigintWatch:
    """The process's SIGINT counter."""
    return _WATCH


def interrupt_error(elapsed: float, *, stopped: bool) -> QueryCancelledError | None:
    """The error an interrupted call raises in IPython; None elsewhere.

    Args:
        elapsed: seconds the call ran before the interrupt.
        stopped: whether the cancelled work finished unwinding, i.e. psycopg's
            cancel request was answered and the query is gone from the server.
    """
    ipython = shell()
    if ipython is None:
        return None
    outcome = (
        "the server stopped the query"
        if stopped
        else "the query may still be running on the server"
    )
    error = QueryCancelledError(
        f"cancelled by interrupt after {elapsed:.1f} s; {outcome}"
    )
    error._dn_interrupt = True  # type: ignore[attr-defined]
    # Deferred: pandas (behind the display module) loads only on an interrupt.
    from dashtam_nb.magic.display import install_interrupt_display

    install_interrupt_display(ipython)
    return error
