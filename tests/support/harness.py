"""The secret check, the run summary and small helpers for fault tests.

`assert_no_secret` is the "S check" of shared/notes/fault-plan.md: the canary
password, its URL-encoded forms and every 5+ character fragment between its
reserved characters must appear nowhere. `TALLY` counts what the suite tried
and feeds the summary line printed by the `pytest_terminal_summary` hook of
`tests.support.fix_fault`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import traceback
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from sqlalchemy import event
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

CANARY = "Zq9Kanary@Wx7Plm%Bq4Nd/Rt5Vy Hj8Ts"
LOOPBACK = "127.0.0.1"


@dataclass
class Tally:
    """Counts for the summary line printed after the run."""

    bad_inputs: int = 0
    faults_survived: int = 0
    rows_lost: int = 0
    secret_scans: int = 0
    secret_hits: int = 0
    printed: bool = False

    def line(self) -> str:
        """The one summary line."""
        labels = {"bad_inputs": "bad inputs tried"}
        parts = ", ".join(
            f"{labels.get(f.name, f.name.replace('_', ' '))} = {getattr(self, f.name)}"
            for f in fields(self)
            if f.name != "printed"
        )
        return f"dashtam fault/security: {parts}"


TALLY = Tally()


def bad_input(n: int = 1) -> None:
    """Count bad inputs tried (each one is asserted by its test)."""
    TALLY.bad_inputs += n


def survived(n: int = 1) -> None:
    """Count faults injected and survived (call after the state assertions)."""
    TALLY.faults_survived += n


def secret_needles(secret: str = CANARY) -> list[str]:
    """The canary, its URL-encoded forms, and every 5+ character fragment."""
    needles = {secret, quote(secret), quote(secret, safe=""), quote_plus(secret)}
    for sep in "@%/ ":
        secret = secret.replace(sep, "\0")
    needles.update(s for s in secret.split("\0") if len(s) >= 5)
    return sorted(needles, key=len, reverse=True)


_NEEDLES = secret_needles()


def find_secrets(text: str) -> list[str]:
    """Which needles occur in ``text``."""
    return [n for n in _NEEDLES if n in text]


def assert_no_secret(*texts: object, where: str = "") -> None:
    """The S check: no canary fragment in any of ``texts`` (str() of each)."""
    for text in texts:
        TALLY.secret_scans += 1
        hits = find_secrets(text if isinstance(text, str) else str(text))
        if hits:
            TALLY.secret_hits += 1
            raise AssertionError(f"secret leaked {where}: fragments {hits!r}")


def error_texts(err: BaseException) -> list[str]:
    """Everything a user could see of an error, including what it chains."""
    texts = [str(err), repr(err), "".join(traceback.format_exception(err))]
    texts.append(_with_locals(err))
    texts.extend(getattr(err, "__notes__", None) or [])
    seen: set[int] = set()
    todo: list[object] = [err]
    while todo:
        item = todo.pop()
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.add(id(item))
        # Chained originals may *hold* the secret (their connect arguments);
        # their messages must not show it.
        texts += [str(item), repr(item)]
        todo += [item.__cause__, item.__context__]
        todo += [getattr(item, "original", None), getattr(item, "orig", None)]
    return texts


def _with_locals(err: BaseException) -> str:
    """The traceback with every frame's locals, as %xmode Verbose prints it.

    Frames of the tests themselves are left out: their locals are the test's
    own inputs (a user's cell variables are theirs too).
    """
    shown = traceback.TracebackException.from_exception(err, capture_locals=True)
    todo: list[traceback.TracebackException | None] = [shown]
    while todo:
        item = todo.pop()
        if item is None:
            continue
        for frame in item.stack:
            if _TESTS_DIR in frame.filename:
                frame.locals = None
        todo += [item.__cause__, item.__context__]
    return "".join(shown.format())


_TESTS_DIR = str(Path(__file__).parent.parent) + os.sep


def assert_error_clean(err: BaseException) -> None:
    """The S check over an error, plus the one-line message rule."""
    assert_no_secret(*error_texts(err), where=f"in {type(err).__name__}")
    assert "\n" not in str(err), f"multi-line message: {err!s}"


def poll(
    check: Callable[[], Any], *, timeout: float = 10.0, every: float = 0.02
) -> Any:
    """Call ``check`` until it returns something truthy (no bare sleeps)."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {check}")
        time.sleep(every)


def free_port() -> int:
    """A currently free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def tarpit_port() -> Iterator[int]:
    """A loopback port that completes the TCP handshake and never answers."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        sock.listen(16)  # never accept(): the kernel queues, nobody replies
        yield int(sock.getsockname()[1])


@contextlib.contextmanager
def refused_port() -> Iterator[int]:
    """A loopback port that is bound but not listening: connects are refused."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        yield int(sock.getsockname()[1])


@contextlib.contextmanager
def no_sql() -> Iterator[list[str]]:
    """Fail if any statement is sent, or any connection made, in the block."""
    sent: list[str] = []

    def record(*args: Any) -> None:
        sent.append(str(args[2])[:60])  # (conn, cursor, statement, ...)

    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(Engine, "before_cursor_execute", record)
    assert not sent, f"SQL was sent before validation: {sent}"


class LogScan(logging.Handler):
    """Collects every record of every logger, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


# Loggers whose DEBUG output would carry connection details if anything did.
DEBUG_LOGGERS = (
    "",
    "sqlalchemy",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "psycopg",
    "asyncio",
    "dashtam_nb",
)


@contextlib.contextmanager
def scan_logs() -> Iterator[LogScan]:
    """Every logger at DEBUG for the block; the S check over all records after."""
    handler = LogScan()
    saved = {name: logging.getLogger(name).level for name in DEBUG_LOGGERS}
    root = logging.getLogger()
    root.addHandler(handler)
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)
    assert_no_secret("\n".join(handler.lines), where="in DEBUG logs")
