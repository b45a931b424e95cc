# Size: one exception tree and the single mapping from driver errors to it.
"""The package's exceptions and the one place driver errors are translated.

Every public call raises only `DashtamError` subclasses. Driver and SQLAlchemy
errors are converted here, at a single boundary, and re-raised ``from None`` so
tracebacks never show SQL, bound parameters or connection arguments (with
``%xmode Verbose`` a psycopg frame would print the password). The original
exception stays reachable on ``.original`` for debugging.
"""

from __future__ import annotations

import re
from typing import Any, Literal

__all__ = [
    "ConfigError",
    "ConflictError",
    "ConnectError",
    "ConnectKind",
    "ConnectionLostError",
    "DashtamError",
    "DatabaseError",
    "DuplicateError",
    "ImmutableRecordError",
    "IntegrityViolationError",
    "InvalidIdError",
    "MigrationError",
    "NotFoundError",
    "PermissionDeniedError",
    "QueryCancelledError",
    "QueryTimeoutError",
    "SessionClosedError",
    "ValidationError",
    "connect_kind",
    "echo",
    "translate",
]

ConnectKind = Literal["auth", "dns", "refused", "timeout", "db_missing", "unknown"]

_MAX_MESSAGE = 300


def _one_line(text: str) -> str:
    """First line of a message, trimmed: errors are read in narrow notebook cells."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:_MAX_MESSAGE]


_MAX_ECHO = 40
# What URLs and credentials are made of, and no identifier, id or sort key is:
# a rejected value holding one of these is named by its type, never shown.
_CREDENTIAL_CHARS = frozenset("@:/%")


def echo(value: object, limit: int = _MAX_ECHO) -> str:
    """A rejected value for a message: a short one-line repr, or only its type.

    Messages may show what was wrong with an argument, but never a secret a
    caller passed by mistake (a URL or password where a name was expected),
    and never run a hostile ``__repr__``/``__str__``: only ``str`` and ``bytes``
    values are shown, cut to ``limit`` characters; anything else is its type.
    """
    what = type(value).__name__
    if not isinstance(value, str | bytes):
        return f"<{what}>"
    head = value[: limit + 1]  # slice first: repr of a huge string costs
    text = head if isinstance(head, str) else head.decode("latin-1")
    if any(c in _CREDENTIAL_CHARS for c in text):
        return f"<{what} of {len(value)} characters>"
    shown = "".join(ch if ch.isprintable() else "?" for ch in repr(head))
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


class DashtamError(Exception):
    """Base class of every error the package raises."""

    def __init__(self, message: str, *, original: BaseException | None = None) -> None:
        super().__init__(_one_line(message))
        self.original = original

    @property
    def message(self) -> str:
        """The one-line message."""
        return str(self.args[0]) if self.args else ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r})"


class ConfigError(DashtamError):
    """The configuration (usually ``DATABASE_URL``) is malformed."""

    def __init__(self, message: str, *, part: str | None = None) -> None:
        super().__init__(message)
        self.part = part


class ValidationError(DashtamError):
    """An argument was rejected before any SQL ran.

    The same class serves as the handler-level error value:
    ``Failure(ValidationError("Email already registered"))``.
    """

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field

    def __eq__(self, other: object) -> bool:
        # Values compare by meaning, so handler results can be asserted with ==.
        if not isinstance(other, ValidationError):
            return NotImplemented
        return (type(self), self.message, self.field) == (
            type(other),
            other.message,
            other.field,
        )

    def __hash__(self) -> int:
        return hash((type(self), self.message, self.field))


class InvalidIdError(ValidationError):
    """A value that should be a UUID is not one."""


class NotFoundError(DashtamError):
    """A row that must exist does not."""


class DuplicateError(DashtamError):
    """A unique constraint rejected a write; ``field`` names the column."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        constraint: str | None = None,
        original: BaseException | None = None,
    ) -> None:
        super().__init__(message, original=original)
        self.field = field
        self.constraint = constraint


class IntegrityViolationError(DashtamError):
    """A foreign key, check or not-null constraint rejected a write."""

    def __init__(
        self,
        message: str,
        *,
        constraint: str | None = None,
        original: BaseException | None = None,
    ) -> None:
        super().__init__(message, original=original)
        self.constraint = constraint


class ImmutableRecordError(DashtamError):
    """Something tried to change or delete an append-only row (audit log)."""


class ConnectError(DashtamError):
    """The server could not be reached; ``kind`` says why."""

    def __init__(
        self,
        message: str,
        *,
        kind: ConnectKind = "unknown",
        original: BaseException | None = None,
    ) -> None:
        super().__init__(message, original=original)
        self.kind: ConnectKind = kind


class ConnectionLostError(DashtamError):
    """The connection died during work; the transaction did not commit.

    ``outcome_unknown`` is True when the loss happened during COMMIT: the server
    may or may not have committed, so the work must not be retried blindly.
    """

    def __init__(
        self,
        message: str,
        *,
        outcome_unknown: bool = False,
        original: BaseException | None = None,
    ) -> None:
        super().__init__(message, original=original)
        self.outcome_unknown = outcome_unknown


class QueryTimeoutError(DashtamError):
    """The statement ran past ``statement_timeout`` and the server cancelled it."""


class QueryCancelledError(DashtamError):
    """The query was cancelled (interrupt or task cancellation)."""


class ConflictError(DashtamError):
    """Serialization failure or deadlock that retries did not resolve."""


class PermissionDeniedError(DashtamError):
    """The database role may not do this."""


class SessionClosedError(DashtamError):
    """A session was used after its ``async with`` block ended."""


class MigrationError(DashtamError):
    """An Alembic operation failed; the database stays at the previous revision."""


class DatabaseError(DashtamError):
    """Any other database error, reduced to its first line."""

    def __init__(
        self,
        message: str,
        *,
        sqlstate: str | None = None,
        original: BaseException | None = None,
    ) -> None:
        super().__init__(message, original=original)
        self.sqlstate = sqlstate
        #: ``(line, column)`` of a syntax error in the statement, 1-based.
        self.position: tuple[int, int] | None = None


_AUDIT_TRIGGER = "append-only"
# Server-side terminations: admin/crash/shutdown, and the idle timeouts
# (25P03 idle in transaction, 57P05 idle session) that end the backend.
_LOST_STATES = frozenset({"57P01", "57P02", "57P03", "57P05", "25P03"})
_COL_FROM_DETAIL = re.compile(r"Key \((?:lower\()?\(?([a-z_]+)\)?")


def _field_from_constraint(name: str | None, detail: str | None) -> str | None:
    """Which column a unique violation is about, without echoing its value."""
    if detail:
        match = _COL_FROM_DETAIL.search(detail)
        if match:
            return match.group(1)
    if name:
        for part in ("email", "id", "name"):
            if part in name:
                return part
    return None


def connect_kind(text: str) -> ConnectKind:
    """Classify a connection failure by its message.

    Connection-time failures carry no SQLSTATE (psycopg#1188), so the text is all
    there is; ``tests`` pin each phrase against a real server.
    """
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return "auth"
    # 'role "x" does not exist': a bare "role" also matches a socket path.
    if 'role "' in lowered and "does not exist" in lowered:
        return "auth"
    if "database" in lowered and "does not exist" in lowered:
        return "db_missing"
    if (
        "failed to resolve host" in lowered
        or "name or service not known" in lowered
        or "nodename nor servname" in lowered
        or "temporary failure in name resolution" in lowered
    ):
        return "dns"
    if "connection refused" in lowered or "no such file or directory" in lowered:
        return "refused"
    if "timeout" in lowered or "timed out" in lowered:
        return "timeout"
    return "unknown"


_OUR_TABLES = frozenset({"users", "accounts", "transactions", "audit_logs"})
_MISSING_RELATION = re.compile(r'relation "(?:[^".]+\.)?([^"]+)" does not exist')
_MISSING_BIND = re.compile(r"A value is required for bind parameter '([^']+)'")


_PLACEHOLDER = re.compile(r"%\((\w+)\)s|%%")


def _as_typed(statement: str, char: int) -> tuple[str, int]:
    """The text as the caller typed it, and where server position ``char`` is.

    The server counts characters of what psycopg sent (``$1``); SQLAlchemy
    holds ``%(name)s``; the caller typed ``:name``. Walk all three at once.
    """
    sent = typed = 0
    numbers: dict[str, int] = {}
    out: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(statement):
        plain = statement[last : match.start()]
        if sent + len(plain) >= char - 1:
            break
        out.append(plain)
        sent, typed = sent + len(plain), typed + len(plain)
        name = match.group(1)
        if name is None:  # %% is one % on the wire and in the typed text
            piece, wire = "%", 1
        else:
            number = numbers.setdefault(name, len(numbers) + 1)
            piece, wire = f":{name}", len(f"${number}")
        if sent + wire > char - 1:
            return "".join(out), typed + 1
        out.append(piece)
        sent, typed = sent + wire, typed + len(piece)
        last = match.end()
    out.append(statement[last:])
    return "".join(out), typed + (char - 1 - sent) + 1


def _position(exc: BaseException, char: int) -> tuple[int, int] | None:
    """Line and column (1-based) of the server's character position ``char``."""
    statement = getattr(exc, "statement", None)
    if not isinstance(statement, str) or char < 1:
        return None
    text, at = _as_typed(statement, char)
    if at > len(text) + 1:
        return None
    before = text[: at - 1]
    return before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1


def _syntax(exc: BaseException, text: str, diag: Any, sqlstate: str) -> DatabaseError:
    """A syntax error with where it is (never the statement itself)."""
    raw = getattr(diag, "statement_position", None)
    where = _position(exc, int(raw)) if raw and str(raw).isdigit() else None
    message = f"{text} (line {where[0]}, column {where[1]})" if where else text
    error = DatabaseError(message, sqlstate=sqlstate, original=exc)
    error.position = where
    return error


def _missing_relation(text: str) -> str:
    """The server's message plus the call that fixes it."""
    match = _MISSING_RELATION.search(text)
    if match and match.group(1) in _OUR_TABLES:
        return (
            f"{text}: the schema is not migrated here; run "
            'migrations.upgrade("head", db=db) (then sample_data.seed(db) for data)'
        )
    return f"{text}; list what exists with db.tables()"


# PostgreSQL quotes the statement's text where parsing failed: a keyword
# (helpful, kept) or, for an unterminated string, the whole rest of the
# statement with any values in it (dropped: `_syntax` adds line and column).
_NEAR = re.compile(r'\s+at or near "((?:[^"]|"")*)"?')
_SHOWN_TOKEN = 30


def _without_sql(text: str) -> str:
    """A server message whose quoted statement text is a short token at most."""
    match = _NEAR.search(text)
    if match is None:
        return text
    token = match.group(1)
    if len(token) <= _SHOWN_TOKEN and not any(c in token for c in "'@:/%;\\"):
        return text
    return text[: match.start()] + text[match.end() :]


def _dbapi_of(exc: BaseException) -> BaseException | None:
    orig = getattr(exc, "orig", None)
    return orig if isinstance(orig, BaseException) else None


def translate(
    exc: BaseException, *, during_commit: bool = False, target: str = "the database"
) -> BaseException:
    """Map a SQLAlchemy/psycopg error to the package's own exception.

    Returns the exception to raise (the input itself when it is already ours or
    is not a database error). ``target`` is a masked description of the server
    used in connect messages; it never contains a password.
    """
    if isinstance(exc, DashtamError):
        return exc
    if isinstance(exc, UnicodeEncodeError):
        # A lone surrogate (e.g. from a bad decode) cannot be sent as UTF-8;
        # it fails while encoding, before anything reaches the server.
        return ValidationError(
            "text contains a character that cannot be encoded as UTF-8 "
            "(a lone surrogate?)"
        )
    import psycopg
    from sqlalchemy import exc as sa_exc
    from sqlalchemy.orm.exc import StaleDataError

    if isinstance(exc, StaleDataError):
        # A version_id_col UPDATE matched no row: someone changed it first.
        return ConflictError(
            "the row changed since it was read (stale version); read it again "
            "and retry",
            original=exc,
        )
    if isinstance(exc, sa_exc.PendingRollbackError):
        return DatabaseError(
            "the transaction was rolled back after an earlier error; start a new "
            "session",
            original=exc,
        )
    if isinstance(exc, sa_exc.ResourceClosedError | sa_exc.InvalidRequestError) and (
        "closed" in str(exc).lower()
    ):
        return SessionClosedError(
            "session is closed: use it inside `async with db.get_session()`",
            original=exc,
        )
    dbapi = _dbapi_of(exc) if isinstance(exc, sa_exc.DBAPIError) else None
    if dbapi is None and isinstance(exc, psycopg.Error):
        dbapi = exc
    if dbapi is None:
        missing = _MISSING_BIND.search(str(exc))
        if missing and isinstance(
            exc, sa_exc.StatementError | sa_exc.InvalidRequestError
        ):
            name = missing.group(1)
            return ValidationError(
                f"no value for the bind parameter :{name} "
                f"(pass params={{{name!r}: ...}})",
                field=name,
            )
        if isinstance(exc, sa_exc.TimeoutError):
            return QueryTimeoutError(
                "no pooled connection became free in time (pool exhausted)",
                original=exc,
            )
        return exc

    sqlstate: str | None = getattr(dbapi, "sqlstate", None)
    diag = getattr(dbapi, "diag", None)
    constraint = getattr(diag, "constraint_name", None) if diag else None
    detail = getattr(diag, "message_detail", None) if diag else None
    primary = getattr(diag, "message_primary", None) if diag else None
    text = _without_sql(_one_line(primary or str(dbapi)))
    invalidated = bool(getattr(exc, "connection_invalidated", False))

    if sqlstate is None and isinstance(dbapi, psycopg.DataError) and "NUL" in text:
        # psycopg refuses NUL bytes client-side: nothing was sent.
        return ValidationError("text values cannot contain NUL (0x00) bytes")
    if isinstance(dbapi, psycopg.errors.ConnectionTimeout):
        return ConnectError(
            f"could not connect to {target}: timed out", kind="timeout", original=exc
        )
    if sqlstate is None and isinstance(dbapi, psycopg.OperationalError):
        if (
            invalidated
            or "consuming input failed" in str(dbapi)
            or ("server closed the connection" in str(dbapi))
        ):
            return _lost(exc, during_commit)
        kind = connect_kind(str(dbapi))
        reason = {
            "auth": "authentication failed (check the user name and password)",
            "dns": "unknown host",
            "refused": "connection refused (is the server running?)",
            "timeout": "timed out",
            "db_missing": "the database does not exist",
            "unknown": text,
        }[kind]
        return ConnectError(
            f"could not connect to {target}: {reason}", kind=kind, original=exc
        )
    if sqlstate == "28P01" or sqlstate == "28000":
        return ConnectError(
            f"could not connect to {target}: authentication failed",
            kind="auth",
            original=exc,
        )
    if sqlstate == "3D000":
        return ConnectError(
            f"could not connect to {target}: the database does not exist",
            kind="db_missing",
            original=exc,
        )
    if sqlstate == "23505":
        field = _field_from_constraint(constraint, detail)
        what = f"{field!s} already exists" if field else "duplicate value"
        return DuplicateError(
            f"{what} (constraint {constraint})",
            field=field,
            constraint=constraint,
            original=exc,
        )
    if sqlstate in {"23503", "23514", "23502", "23P01"}:
        return IntegrityViolationError(
            f"{text} (constraint {constraint})"
            if constraint and constraint not in text
            else text,
            constraint=constraint,
            original=exc,
        )
    if sqlstate and (sqlstate == "55P05" or _AUDIT_TRIGGER in text):
        return ImmutableRecordError(text, original=exc)
    if sqlstate == "57014":
        if "statement timeout" in text:
            return QueryTimeoutError(
                "the statement ran past statement_timeout and was cancelled",
                original=exc,
            )
        return QueryCancelledError("the query was cancelled", original=exc)
    if sqlstate in {"40001", "40P01"}:
        what = "deadlock" if sqlstate == "40P01" else "serialization failure"
        return ConflictError(f"{what}: the transaction was rolled back", original=exc)
    if sqlstate == "42501":
        return PermissionDeniedError(text, original=exc)
    if sqlstate in {"22P02"} and "uuid" in text.lower():
        return InvalidIdError("not a valid UUID")
    if (sqlstate or "").startswith("08") or sqlstate in _LOST_STATES:
        return _lost(exc, during_commit)
    if invalidated:
        return _lost(exc, during_commit)
    if sqlstate == "42601":
        return _syntax(exc, text, diag, sqlstate)
    if sqlstate == "42P01":
        return DatabaseError(_missing_relation(text), sqlstate=sqlstate, original=exc)
    return DatabaseError(text, sqlstate=sqlstate, original=exc)


def _lost(exc: BaseException, during_commit: bool) -> ConnectionLostError:
    if during_commit:
        return ConnectionLostError(
            "connection lost during COMMIT: the outcome is unknown; check before "
            "retrying",
            outcome_unknown=True,
            original=exc,
        )
    return ConnectionLostError(
        "connection lost; the transaction was rolled back", original=exc
    )
