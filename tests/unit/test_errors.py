"""`dashtam_nb.errors.translate`: driver errors to the package's, no server.

psycopg errors are built by hand with the diagnostic fields a server would
send (``info=`` takes them as a dict), wrapped the way SQLAlchemy wraps them.
The fault suite provokes the same errors on a real server; here every branch
of the mapping is pinned, with its class, one-line message and ``.original``.
"""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg import errors as pe
from psycopg.pq import DiagnosticField
from sqlalchemy import exc as sa_exc

import dashtam_nb as dn
from dashtam_nb.errors import connect_kind, translate

STATEMENT = "INSERT INTO users (email) VALUES (%(email)s)"
PARAMS = {"email": "leaky.value@example.com"}


def pg_error(
    cls: type[psycopg.Error],
    primary: str,
    *,
    constraint: str | None = None,
    detail: str | None = None,
) -> psycopg.Error:
    """A psycopg error as a server would send it (diagnostics included)."""
    info: dict[int, bytes | None] = {DiagnosticField.MESSAGE_PRIMARY: primary.encode()}
    if constraint:
        info[DiagnosticField.CONSTRAINT_NAME] = constraint.encode()
    if detail:
        info[DiagnosticField.MESSAGE_DETAIL] = detail.encode()
    return cls(f"{primary}\nDETAIL:  {detail}" if detail else primary, info=info)


def wrapped(
    orig: BaseException,
    cls: type[sa_exc.DBAPIError] = sa_exc.DBAPIError,
    *,
    invalidated: bool = False,
) -> sa_exc.DBAPIError:
    """``orig`` wrapped as SQLAlchemy raises it from ``execute``."""
    return cls(STATEMENT, PARAMS, orig, connection_invalidated=invalidated)


def check(
    result: BaseException, cls: type[dn.DashtamError], given: BaseException
) -> Any:
    """The translation's class and ``.original``, and nothing of the statement."""
    assert type(result) is cls, repr(result)
    assert isinstance(result, dn.DashtamError)
    text = str(result)
    assert "\n" not in text
    assert "leaky.value" not in text
    assert "INSERT" not in text
    if hasattr(result, "original") and result.original is not None:
        assert result.original is given
    return result


def test_a_unique_violation_names_the_column_not_the_value() -> None:
    orig = pg_error(
        pe.UniqueViolation,
        'duplicate key value violates unique constraint "uq_users_email"',
        constraint="uq_users_email",
        detail="Key (lower(email::text))=(leaky.value@example.com) already exists.",
    )
    exc = wrapped(orig, sa_exc.IntegrityError)
    err = check(translate(exc), dn.DuplicateError, exc)
    assert err.message == "email already exists (constraint uq_users_email)"
    assert (err.field, err.constraint) == ("email", "uq_users_email")
    assert err.original.orig is orig


@pytest.mark.parametrize(
    ("constraint", "detail", "field"),
    [
        ("pk_accounts", "Key (id)=(1) already exists.", "id"),
        ("uq_accounts_user_id_name", None, "id"),  # from the name: first match
        ("uq_users_email", None, "email"),
        ("uq_whatever", None, None),
        (None, None, None),
    ],
)
def test_the_duplicate_field_comes_from_detail_or_constraint_name(
    constraint: str | None, detail: str | None, field: str | None
) -> None:
    orig = pg_error(
        pe.UniqueViolation, "duplicate key", constraint=constraint, detail=detail
    )
    exc = wrapped(orig, sa_exc.IntegrityError)
    err = check(translate(exc), dn.DuplicateError, exc)
    assert err.field == field
    assert err.message.startswith(
        f"{field} already exists" if field else "duplicate value"
    )


@pytest.mark.parametrize(
    "cls",
    [
        pe.ForeignKeyViolation,
        pe.CheckViolation,
        pe.NotNullViolation,
        pe.ExclusionViolation,
    ],
)
def test_other_integrity_violations_name_the_constraint_once(
    cls: type[psycopg.Error],
) -> None:
    named = pg_error(cls, 'violates constraint "ck_amount"', constraint="ck_amount")
    exc = wrapped(named, sa_exc.IntegrityError)
    err = check(translate(exc), dn.IntegrityViolationError, exc)
    assert err.message == 'violates constraint "ck_amount"'
    assert err.constraint == "ck_amount"
    unnamed = pg_error(cls, "null value in column", constraint="nn_x")
    exc = wrapped(unnamed, sa_exc.IntegrityError)
    err = check(translate(exc), dn.IntegrityViolationError, exc)
    assert err.message == "null value in column (constraint nn_x)"


@pytest.mark.parametrize(
    ("orig", "cls", "message"),
    [
        (
            pg_error(pe.QueryCanceled, "canceling statement due to statement timeout"),
            dn.QueryTimeoutError,
            "the statement ran past statement_timeout and was cancelled",
        ),
        (
            pg_error(pe.QueryCanceled, "canceling statement due to user request"),
            dn.QueryCancelledError,
            "the query was cancelled",
        ),
        (
            pg_error(pe.SerializationFailure, "could not serialize access"),
            dn.ConflictError,
            "serialization failure: the transaction was rolled back",
        ),
        (
            pg_error(pe.DeadlockDetected, "deadlock detected"),
            dn.ConflictError,
            "deadlock: the transaction was rolled back",
        ),
        (
            pg_error(pe.InsufficientPrivilege, "permission denied for table users"),
            dn.PermissionDeniedError,
            "permission denied for table users",
        ),
        (
            pg_error(pe.RaiseException, "audit_logs is append-only"),
            dn.ImmutableRecordError,
            "audit_logs is append-only",
        ),
        (
            pg_error(
                pe.InvalidTextRepresentation, 'invalid input syntax for type uuid: "x"'
            ),
            dn.InvalidIdError,
            "not a valid UUID",
        ),
        (
            pg_error(
                pe.InvalidTextRepresentation,
                'invalid input syntax for type integer: "x"',
            ),
            dn.DatabaseError,
            'invalid input syntax for type integer: "x"',
        ),
        (
            pg_error(pe.UndefinedTable, 'relation "nope" does not exist'),
            dn.DatabaseError,
            'relation "nope" does not exist; list what exists with db.tables()',
        ),
        (
            pg_error(pe.UndefinedTable, 'relation "public.users" does not exist'),
            dn.DatabaseError,
            'relation "public.users" does not exist: the schema is not migrated '
            'here; run migrations.upgrade("head", db=db) (then sample_data.seed(db) '
            "for data)",
        ),
    ],
)
def test_server_errors_map_by_sqlstate(
    orig: psycopg.Error, cls: type[dn.DashtamError], message: str
) -> None:
    for given_exc in (wrapped(orig), orig):  # wrapped by SQLAlchemy, or raw psycopg
        err = check(translate(given_exc), cls, given_exc)
        assert err.message == message


def test_an_unmapped_error_keeps_its_sqlstate_and_first_line() -> None:
    orig = pg_error(pe.DivisionByZero, "division by zero")
    exc = wrapped(orig)
    err = check(translate(exc), dn.DatabaseError, exc)
    assert (err.message, err.sqlstate) == ("division by zero", "22012")


@pytest.mark.parametrize(
    "cls",
    [pe.AdminShutdown, pe.CrashShutdown, pe.IdleSessionTimeout, pe.ConnectionFailure],
)
def test_a_server_ending_the_session_is_a_lost_connection(
    cls: type[psycopg.Error],
) -> None:
    orig = pg_error(cls, "terminating connection due to administrator command")
    exc = wrapped(orig)
    err = check(translate(exc), dn.ConnectionLostError, exc)
    assert err.message == "connection lost; the transaction was rolled back"
    assert err.outcome_unknown is False
    during = translate(wrapped(orig), during_commit=True)
    assert isinstance(during, dn.ConnectionLostError)
    assert during.outcome_unknown is True
    assert "outcome is unknown" in during.message


@pytest.mark.parametrize(
    "orig",
    [
        psycopg.OperationalError(
            "server closed the connection unexpectedly\n\tThis probably means"
        ),
        psycopg.OperationalError("consuming input failed: EOF"),
        pg_error(
            pe.DivisionByZero, "division by zero"
        ),  # invalidated wins over sqlstate
    ],
)
def test_an_invalidated_or_closed_connection_is_lost(orig: psycopg.Error) -> None:
    err = translate(wrapped(orig, sa_exc.OperationalError, invalidated=True))
    assert type(err) is dn.ConnectionLostError


@pytest.mark.parametrize(
    ("text", "kind", "reason"),
    [
        (
            'connection failed: FATAL:  password authentication failed for user "app"',
            "auth",
            "authentication failed (check the user name and password)",
        ),
        ("fe_sendauth: no password supplied", "auth", "authentication failed"),
        ('FATAL:  role "nobody" does not exist', "auth", "authentication failed"),
        (
            'FATAL:  database "gone" does not exist',
            "db_missing",
            "the database does not exist",
        ),
        (  # "role" in the socket path is not a missing role
            'connection to server on socket "/tmp/dn-rolefix/.s.PGSQL.5432" '
            'failed: FATAL:  database "gone" does not exist',
            "db_missing",
            "the database does not exist",
        ),
        (
            "failed to resolve host 'nohost': Name or service not known",
            "dns",
            "unknown host",
        ),
        (
            "connection to server at 127.0.0.1, port 1 failed: Connection refused",
            "refused",
            "refused",
        ),
        (
            'connection to server on socket "/x/.s.PGSQL.5432" failed: '
            "No such file or directory",
            "refused",
            "refused",
        ),
        ("connection timeout expired", "timeout", "timed out"),
        ("something else entirely\nsecond line", "unknown", "something else entirely"),
    ],
)
def test_connect_failures_are_classified_by_their_text(
    text: str, kind: str, reason: str
) -> None:
    assert connect_kind(text) == kind
    orig = psycopg.OperationalError(text)
    exc = wrapped(orig, sa_exc.OperationalError)
    err = check(
        translate(exc, target="database 'ledger' on db.example:5432"),
        dn.ConnectError,
        exc,
    )
    assert err.kind == kind
    assert err.message.startswith(
        "could not connect to database 'ledger' on db.example:5432: "
    )
    assert reason in err.message


@pytest.mark.parametrize(
    ("orig", "kind"),
    [
        (
            pg_error(
                pe.InvalidPassword, 'password authentication failed for user "app"'
            ),
            "auth",
        ),
        (
            pg_error(pe.InvalidAuthorizationSpecification, 'role "x" does not exist'),
            "auth",
        ),
        (
            pg_error(pe.InvalidCatalogName, 'database "gone" does not exist'),
            "db_missing",
        ),
        (pe.ConnectionTimeout("connection timeout expired"), "timeout"),
    ],
)
def test_connect_errors_with_a_sqlstate_or_a_class(
    orig: psycopg.Error, kind: str
) -> None:
    exc = wrapped(orig, sa_exc.OperationalError)
    err = check(translate(exc), dn.ConnectError, exc)
    assert err.kind == kind
    assert err.message.startswith("could not connect to the database: ")


def test_client_side_refusals_are_validation_errors() -> None:
    nul = psycopg.DataError("PostgreSQL text fields cannot contain NUL (0x00) bytes")
    assert type(translate(wrapped(nul, sa_exc.DataError))) is dn.ValidationError
    surrogate = UnicodeEncodeError("utf-8", "\udc80", 0, 1, "surrogates not allowed")
    err = translate(surrogate)
    assert type(err) is dn.ValidationError
    assert "lone surrogate" in str(err)


def test_sqlalchemy_state_errors() -> None:
    pending = sa_exc.PendingRollbackError(
        "This Session's transaction has been rolled back"
    )
    err = check(translate(pending), dn.DatabaseError, pending)
    assert "start a new session" in err.message
    for closed in (
        sa_exc.ResourceClosedError("This Connection is closed"),
        sa_exc.InvalidRequestError("This session is closed"),
    ):
        check(translate(closed), dn.SessionClosedError, closed)
    pool = sa_exc.TimeoutError("QueuePool limit of size 2 overflow 0 reached")
    err = check(translate(pool), dn.QueryTimeoutError, pool)
    assert "pool exhausted" in err.message


@pytest.mark.parametrize(
    "exc",
    [
        ValueError("not a database error"),
        KeyError("k"),
        sa_exc.InvalidRequestError("some other misuse"),
        sa_exc.ArgumentError("bad argument"),
    ],
)
def test_what_is_not_a_database_error_passes_through(exc: BaseException) -> None:
    assert translate(exc) is exc


def test_our_own_errors_pass_through() -> None:
    ours = dn.ValidationError("already ours", field="x")
    assert translate(ours) is ours


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=2000).filter(str.strip))
def test_any_server_message_becomes_one_short_line(primary: str) -> None:
    err = translate(wrapped(pg_error(pe.DivisionByZero, primary)))
    assert isinstance(err, dn.DatabaseError)
    assert len(err.message.splitlines()) == 1  # \r, \x85, \u2028 break lines too
    assert len(err.message) <= 300
    assert err.message == primary.strip().splitlines()[0][:300].strip()


def test_a_stale_version_is_a_conflict() -> None:
    from sqlalchemy.orm.exc import StaleDataError

    exc = StaleDataError("UPDATE statement on table 'users' expected to update 1 row")
    err = translate(exc)
    assert isinstance(err, dn.ConflictError)
    assert "stale version" in str(err)
    assert "UPDATE" not in str(err)
    assert err.original is exc
