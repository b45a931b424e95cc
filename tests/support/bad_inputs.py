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

import datetime as dt
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import dashtam_nb as dn
from dashtam_nb import admin as dn_admin

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
    dn_admin.drop_database(name)


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


# ---- the hostile pool of the surface fuzz (tests/security/test_fuzz_surface.py) ----
#
# Factories, not values: a call may mutate what it is given (a dict, a frame),
# so every draw gets a fresh object. Nothing here sleeps, drops or connects to
# anything but loopback.


class HostileDunderError(Exception):
    """Raised by `Hostile`'s dunders: seeing it means a call used a value unchecked."""


class Hostile:
    """An object whose ``__str__``, ``__eq__``, ``__hash__``, ``__bool__`` raise."""

    def __repr__(self) -> str:  # hypothesis and tracebacks must still show it
        return "Hostile()"

    def __str__(self) -> str:
        raise HostileDunderError("__str__")

    def __eq__(self, other: object) -> bool:
        raise HostileDunderError("__eq__")

    def __hash__(self) -> int:
        raise HostileDunderError("__hash__")

    def __bool__(self) -> bool:
        raise HostileDunderError("__bool__")

    def __len__(self) -> int:
        raise HostileDunderError("__len__")

    def __iter__(self) -> Any:
        raise HostileDunderError("__iter__")

    def __fspath__(self) -> str:
        raise HostileDunderError("__fspath__")


class _BadTz(dt.tzinfo):
    """A tzinfo whose every answer raises (a broken third-party zone)."""

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta:
        raise HostileDunderError("utcoffset")

    def dst(self, when: dt.datetime | None) -> dt.timedelta:
        raise HostileDunderError("dst")

    def tzname(self, when: dt.datetime | None) -> str:
        raise HostileDunderError("tzname")

    def __repr__(self) -> str:
        return "_BadTz()"


class _OddTz(dt.tzinfo):
    """A legal but odd zone: UTC+23:59:59.999999."""

    def utcoffset(self, when: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(hours=24) - dt.timedelta(microseconds=1)

    def dst(self, when: dt.datetime | None) -> dt.timedelta:
        return dt.timedelta(0)

    def tzname(self, when: dt.datetime | None) -> str:
        return "odd"

    def __repr__(self) -> str:
        return "_OddTz()"


def _frames() -> list[Callable[[], Any]]:
    import pandas as pd
    import pyarrow as pa

    return [
        lambda: pd.DataFrame(),
        lambda: pd.DataFrame({"a": [1 + 2j, 3j]}),
        lambda: pd.DataFrame({"a": pd.period_range("2020-01", periods=2, freq="M")}),
        lambda: pd.DataFrame({"a": pd.Categorical(["x", None])}),
        lambda: pd.DataFrame({"a": pd.arrays.IntervalArray.from_breaks([0, 1, 2])}),
        lambda: pd.DataFrame([[1, 2]], columns=["a", "a"]),
        lambda: pd.DataFrame({("a", "b"): [1], ("a", "c"): [2]}),
        lambda: pd.DataFrame({"a": [object(), Hostile()]}),
        lambda: pd.DataFrame({"a": [Decimal("NaN"), Decimal("sNaN")]}),
        lambda: pd.DataFrame(
            {"a": pd.Series([dt.datetime(2020, 1, 1, tzinfo=_BadTz())], dtype=object)}
        ),
        lambda: pd.DataFrame({"": [1], "x\x00y": [2]}),
        lambda: pd.DataFrame({1: [1], None: [2]}),
        lambda: pd.DataFrame({"a": [[1, [2]], {"k": b"\x00"}]}),
        lambda: pd.DataFrame({"a": [float("nan"), float("inf")]}, dtype="float16"),
        lambda: pd.DataFrame({"id": ["not-a-uuid"], "email": [None]}),
        lambda: pd.Series([1, 2]),
        lambda: pa.table({"a": [1, 2]}),
    ]


def _sqlalchemy() -> list[Callable[[], Any]]:
    import sqlalchemy as sa

    return [
        lambda: sa.text("SELECT 1; SELECT 2"),
        lambda: sa.text("SELECT :missing"),
        lambda: sa.select(sa.literal_column("no_such_column")),
        lambda: sa.column("x"),
        lambda: sa.table("no_such_table"),
        lambda: sa.literal("x"),
        lambda: sa.insert(sa.table("no_such_table", sa.column("v"))).values(v=1),
        lambda: sa.MetaData(),
        lambda: sa.create_engine("sqlite://"),  # created lazily, never connected
    ]


def _canary_urls() -> list[Callable[[], Any]]:
    from urllib.parse import quote

    from sqlalchemy import URL

    from tests.support.harness import CANARY

    enc = quote(CANARY, safe="")
    return [
        lambda: f"postgresql://app:{enc}@127.0.0.1:1/db",
        lambda: f"postgresql://app:{CANARY}@127.0.0.1/db",
        lambda: f"postgresql://app:{enc}@127.0.0.1:99999/db",
        lambda: f"mysql://app:{enc}@127.0.0.1/db",
        lambda: f"postgresql://app:{enc}@127.0.0.1:1/db?sslmode=bogus",
        lambda: URL.create("postgresql", "app", CANARY, "127.0.0.1", 1, "db"),
        lambda: CANARY,
    ]


# Injections that are harmless as SQL (no sleeping; the rest only fail to parse).
_HOSTILE_TEXT = [s for s in INJECTIONS if "sleep" not in s]


def hostile_factories() -> list[Callable[[], Any]]:
    """Every hostile value, as zero-argument factories (fresh on each draw)."""
    scalars: list[Any] = [
        None,
        True,
        False,
        0,
        -1,
        2**63,
        -(2**63) - 1,
        10**100,
        float("nan"),
        float("inf"),
        -float("inf"),
        1.5,
        -0.0,
        1e308,
        b"",
        b"bytes",
        b"\x00\xff",
        "",
        " ",
        "nul\x00byte",
        "line\nbreak\r\n",
        "'quote",
        '"double',
        "lone\udcffsurrogate",
        "-1",
        "NaN",
        "1e309",
        "eyJ9",  # base64 of '{', a forged cursor
        "head; DROP TABLE canary",
        *_HOSTILE_TEXT,
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("-Infinity"),
        Decimal("1e-999999"),
        dt.datetime(2020, 1, 1, tzinfo=_BadTz()),
        dt.datetime(2020, 1, 1, tzinfo=_OddTz()),
        dt.datetime.min,
        dt.datetime.max.replace(tzinfo=dt.UTC),
        dt.date(1, 1, 1),
        dt.time(23, 59, tzinfo=_BadTz()),
        dt.timedelta.max,
        uuid.UUID(int=0),
        Ellipsis,
        NotImplemented,
        print,  # a callable that returns no awaitable (raising ones are user code)
    ]
    fresh: list[Callable[[], Any]] = [
        lambda: "a" * 100_000,
        lambda: {},
        lambda: {"k": Hostile()},
        lambda: {"\x00": 1, 2: "x"},
        lambda: [],
        lambda: [Hostile()],
        lambda: [None, 1, "x", b"y"],
        lambda: (),
        lambda: {1, 2},
        lambda: Hostile(),
        lambda: object(),
        lambda: lambda *a, **k: 1,  # callable, returns no awaitable
        lambda: iter([1, 2]),
        lambda: bytearray(b"x"),
        lambda: memoryview(b"x"),
    ]
    return [
        *((lambda v=v: v) for v in scalars),
        *fresh,
        *_frames(),
        *_sqlalchemy(),
        *_canary_urls(),
    ]


# A data directory must never be one a server could be started in: each of
# these fails before initdb (NUL, a file, /proc, not a path at all).
def hostile_paths() -> list[Callable[[], Any]]:
    """Hostile ``data_dir``/``script_location`` values that cannot host anything."""
    return [
        lambda: None,
        lambda: 5,
        lambda: b"/tmp",
        lambda: "nul\x00dir",
        lambda: "/proc/version",
        lambda: "/proc/self/no_such_dir",
        lambda: "/dev/null",
        lambda: "/" + "a" * 5000,
        lambda: Hostile(),
        lambda: ["/tmp"],
        lambda: "lone\udcffsurrogate",
    ]


@dataclass
class FuzzTally:
    """What the surface fuzz tried, for the summary line (tests.support.fix_fault)."""

    callables: set[str] = field(default_factory=set)
    calls: int = 0
    locals_scans: int = 0

    def line(self) -> str:
        """The fuzz's own summary line."""
        return (
            f"dashtam fuzz: public callables = {len(self.callables)}, "
            f"calls = {self.calls}, locals scans = {self.locals_scans}"
        )


FUZZ = FuzzTally()
