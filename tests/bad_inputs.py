"""Bad inputs, and the registries of places they are thrown at.

Parts still being built (repositories, pagination, migrations) add their
entry points here, and the parametrized cases in tests/fault/test_fault_inputs.py
pick them up:

* `NAME_PARAMETERS`: anything that takes an identifier (database, table,
  sort or column name). Each entry is called with a bad name and must raise
  `ValidationError` before any SQL is sent.
* `VALUE_PARAMETERS`: anything that binds a value. Each entry is awaited with
  ``(db, value)`` on a database holding the ``canary`` table and must either
  round-trip the value or raise a `DashtamError`; the table must survive.
* `INT_PARAMETERS`: keyword arguments that take a positive int (page,
  page_size, pool_size...). Each is called with a bad int and must raise
  `ValidationError` before SQL.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import dashtam_nb as dn
from dashtam_nb import database as dn_database

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

# Strings that would change a statement if they were ever spliced into SQL.
INJECTIONS: list[str] = [
    "' OR '1'='1",
    "'; DROP TABLE canary; --",
    'x"; DROP TABLE canary; --',
    "email; drop table canary --",
    "(select pg_sleep(5))",
    'email" desc, (select 1)--',
    "1; DELETE FROM canary",
    "$$; DROP TABLE canary; $$",
    "%",
    "_",
    "\\",
    "*/ DROP TABLE canary /*",
]

# Text no identifier may contain: NUL, lone surrogates, non-ASCII, length.
BAD_NAMES: list[Any] = [
    *(s for s in INJECTIONS if s != "_"),  # "_" is a fine identifier
    "",
    " ",
    "a" * 64,
    "1starts_with_digit",
    "with space",
    "nul\x00byte",
    "lone\udcffsurrogate",
    "ünïcode",
    "semi;colon",
    "dash-name",
    True,
    0,
    1.5,
    b"bytes",
    ["list"],
]

# Pagination adds its own bounds (0, 2**63, 10**12) next to its entries.
BAD_INTS: list[Any] = [True, False, 1.5, "5", float("nan"), None, -1, b"1"]

BAD_SECONDS: list[Any] = [True, "2", 0, -1, float("nan"), float("inf"), b"1", [1]]

# Values that must pass through a bound parameter unchanged.
ODD_VALUES: list[Any] = [*INJECTIONS, "", "a" * 10_000, "ünïcode ✓", "tab\tnew\nline"]

# Values the client itself must refuse: ValidationError, nothing sent.
UNSENDABLE_VALUES: list[Any] = ["nul\x00byte", "lone\udcffsurrogate", "\udc80"]


# ---- name parameters: callable(name) -> raises ValidationError ----


def _connect(name: Any) -> None:
    dn.connect(name, fresh=True)


def _drop(name: Any) -> None:
    dn_database.drop_database(name)


NAME_PARAMETERS: dict[str, Callable[[Any], object]] = {
    "connect(database)": _connect,
    "drop_database(database)": _drop,
}


# ---- value parameters: await fn(db, value) -> the value read back ----


async def _select(db: dn.Database, value: Any) -> Any:
    return await db.ascalar("SELECT CAST(:v AS text)", {"v": value})


async def _insert(db: dn.Database, value: Any) -> Any:
    await db.aexecute("INSERT INTO canary_values (v) VALUES (:v)", {"v": value})
    return await db.ascalar(
        "SELECT v FROM canary_values WHERE v = :v ORDER BY id DESC LIMIT 1",
        {"v": value},
    )


VALUE_PARAMETERS: dict[str, Callable[[dn.Database, Any], Awaitable[Any]]] = {
    "Database.ascalar(params)": _select,
    "Database.aexecute(INSERT params)": _insert,
}


# ---- int parameters: callable(bad) -> raises ValidationError ----

INT_PARAMETERS: dict[str, Callable[[Any], object]] = {
    "Database(pool_size=)": lambda v: dn.Database("postgresql://h/db", pool_size=v),
    "Database(max_overflow=)": lambda v: dn.Database(
        "postgresql://h/db", max_overflow=v
    ),
    "connect(pool_size=)": lambda v: dn.connect("t_never_created", pool_size=v),
}

SECONDS_PARAMETERS: dict[str, Callable[[Any], object]] = {
    "Database(connect_timeout=)": lambda v: dn.Database(
        "postgresql://h/d", connect_timeout=v
    ),
    "Database(statement_timeout=)": lambda v: dn.Database(
        "postgresql://h/d", statement_timeout=v
    ),
    "Database(pool_timeout=)": lambda v: dn.Database(
        "postgresql://h/d", pool_timeout=v
    ),
}
