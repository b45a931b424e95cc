"""No password in any frame's locals (14.2): every call taking a URL, made to fail.

``%xmode Verbose`` (and pytest's ``--showlocals``) print every variable of
every frame of a traceback. For each public constructor and call that takes
a URL or connection string, or reads one from ``DATABASE_URL`` (`Database`,
`connect`, `create_database`/`drop_database`, migrations and seeding with a
``db``, `settings.reload`, `parse_database_url`), each failure below is
rendered with ``traceback.TracebackException(capture_locals=True)`` and the
canary password must not appear in any form (harness `assert_error_clean`;
the test's own frames are left out: their locals are the test's inputs).
"""

from __future__ import annotations

import traceback
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest
from sqlalchemy import URL, text

import dashtam_nb as dn
from dashtam_nb import config, migrations, sample_data
from tests.support.bad_inputs import FUZZ
from tests.support.harness import (
    _TESTS_DIR,
    CANARY,
    LOOPBACK,
    assert_error_clean,
    assert_no_secret,
    bad_input,
    refused_port,
)
from tests.support.pgfault import OTHER_ROLE

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from tests.support.pgfault import FaultServer

pytestmark = pytest.mark.security

ENC = quote(CANARY, safe="")


@pytest.fixture(scope="module")
def dead_port() -> Iterator[int]:
    """A loopback port where nobody listens (connects are refused)."""
    with refused_port() as port:
        yield port


def _text_url(port: int, query: str = "") -> str:
    return f"postgresql://app:{ENC}@{LOOPBACK}:{port}/db{query}"


def _url(port: int) -> URL:
    return URL.create("postgresql+psycopg", "app", CANARY, LOOPBACK, port, "db")


def locals_rendered(err: BaseException) -> str:
    """The traceback as %xmode Verbose shows it, minus the test's own frames."""
    shown = traceback.TracebackException.from_exception(err, capture_locals=True)
    todo: list[traceback.TracebackException | None] = [shown]
    frames = 0
    while todo:
        item = todo.pop()
        if item is None:
            continue
        for frame in item.stack:
            frames += 1
            if frame.filename.startswith(_TESTS_DIR):
                frame.locals = None
        todo += [item.__cause__, item.__context__]
    assert frames, "no frames rendered"
    return "".join(shown.format())


def assert_locals_clean(err: BaseException) -> None:
    """The S check over the rendered locals and everything else a user sees."""
    bad_input()
    FUZZ.locals_scans += 1
    assert isinstance(err, dn.DashtamError), f"{type(err).__name__}: {err}"
    assert_no_secret(locals_rendered(err), where="in a traceback's locals")
    assert_error_clean(err)


# ---- constructors: a bad option next to a good URL holding the password ----

BAD_OPTIONS: list[dict[str, Any]] = [
    {"pool_size": -1},
    {"pool_size": True},
    {"max_overflow": "10"},
    {"connect_timeout": float("nan")},
    {"statement_timeout": 0},
    {"pool_timeout": float("inf")},
    {"echo": "yes"},
    {"pool_size": 1000},
    {"pool_sise": 5},  # misspelt: ours, not Python's TypeError
]


@pytest.mark.parametrize("as_text", [True, False], ids=["text", "URL"])
@pytest.mark.parametrize("option", BAD_OPTIONS, ids=[repr(o) for o in BAD_OPTIONS])
def test_database_with_a_bad_option_keeps_the_password_out_of_locals(
    option: dict[str, Any], as_text: bool, dead_port: int
) -> None:
    url: str | URL = _text_url(dead_port) if as_text else _url(dead_port)
    with pytest.raises(dn.ValidationError) as info:
        dn.Database(url, **option)
    assert_locals_clean(info.value)


BAD_URLS: list[str] = [
    f"postgresql://app:{CANARY}@{LOOPBACK}/db",  # unencoded: @ / % and space
    f"postgresql://app:{ENC}@{LOOPBACK}:99999/db",
    f"postgresql://app:{ENC}@{LOOPBACK}:port/db",
    f"mysql://app:{ENC}@{LOOPBACK}/db",
    f"postgresql+asyncpg://app:{ENC}@{LOOPBACK}/db",
    f"postgresql://app:{CANARY.replace('%', '%zz')}@{LOOPBACK}/db",
    f"  {ENC}  ",
    CANARY,
]


@pytest.mark.parametrize("raw", BAD_URLS, ids=[f"url{i}" for i in range(len(BAD_URLS))])
def test_a_malformed_url_keeps_the_password_out_of_locals(raw: str) -> None:
    with pytest.raises(dn.ConfigError) as info:
        dn.Database(raw)
    assert_locals_clean(info.value)
    with pytest.raises(dn.ConfigError) as info:
        config.parse_database_url(raw)
    assert_locals_clean(info.value)


# ---- calls that connect: an unreachable server, a refused login, bad options ----


def _calls(db: dn.Database) -> dict[str, Callable[[], object]]:
    return {
        "scalar": lambda: db.scalar("SELECT 1"),
        "frame": lambda: db.frame("SELECT 1 AS one"),
        "execute": lambda: db.execute("SELECT 1"),
        "tables": lambda: db.tables(),
        "describe": lambda: db.describe("users"),
        "session": lambda: dn.run(_in_session(db)),
        "migrations.current": lambda: migrations.current(db=db),
        "migrations.upgrade": lambda: migrations.upgrade("head", db=db),
        "sample_data.seed": lambda: sample_data.seed(db, size=10),
        "explain.plan_summary": lambda: dn.explain.plan_summary(db, "SELECT 1"),
    }


async def _in_session(db: dn.Database) -> None:
    async with db.get_session() as session:
        await session.execute(text("SELECT 1"))


CALL_NAMES = list(_calls(dn.Database("postgresql://h/d")))


def _unreachable(pg: FaultServer, port: int) -> dict[str, Callable[[], dn.Database]]:
    return {
        "refused": lambda: dn.Database(_text_url(port), connect_timeout=2),
        "wrong role": lambda: dn.Database(
            pg.url("postgres", username=OTHER_ROLE), connect_timeout=2
        ),
        "bad sslmode": lambda: dn.Database(
            _text_url(pg.port, "?sslmode=bogus"), connect_timeout=2
        ),
        "missing database": lambda: dn.Database(
            pg.url("no_such_database_here"), connect_timeout=2
        ),
    }


@pytest.mark.parametrize("call", CALL_NAMES)
@pytest.mark.parametrize(
    "where", ["refused", "wrong role", "bad sslmode", "missing database"]
)
def test_a_failed_connect_keeps_the_password_out_of_locals(
    pg: FaultServer, dead_port: int, where: str, call: str
) -> None:
    db = _unreachable(pg, dead_port)[where]()
    try:
        with pytest.raises(dn.DashtamError) as info:
            _calls(db)[call]()
        assert_locals_clean(info.value)
    finally:
        dn.run(db.close())


# ---- calls that read DATABASE_URL: connect, create/drop, settings ----


@pytest.fixture
def canary_env(monkeypatch: pytest.MonkeyPatch, dead_port: int) -> Iterator[None]:
    """DATABASE_URL holds the canary and points at a refused port."""
    monkeypatch.setenv("DATABASE_URL", _text_url(dead_port))
    dn.settings.reload()
    try:
        yield
    finally:
        monkeypatch.undo()
        dn.settings.reload()
        dn.set_database(None)


ENV_CALLS: dict[str, Callable[[], object]] = {
    "connect(name)": lambda: dn.connect("fuzz_locals"),
    "connect(fresh)": lambda: dn.connect("fuzz_locals", fresh=True),
    "connect(pool_size=-1)": lambda: dn.connect("fuzz_locals", pool_size=-1),
    "connect(pool_sise=5)": lambda: dn.connect("fuzz_locals", pool_sise=5),
    "connect(statement_timeout=nan)": lambda: dn.connect(
        statement_timeout=float("nan")
    ),
    "connect() then frame": lambda: dn.connect().frame("SELECT 1"),
    "create_database": lambda: dn.create_database("fuzz_locals"),
    "drop_database": lambda: dn.drop_database("fuzz_locals"),
    "get_database().scalar": lambda: dn.get_database().scalar("SELECT 1"),
    "migrations.current()": lambda: migrations.current(),
}


@pytest.mark.parametrize("call", list(ENV_CALLS))
@pytest.mark.usefixtures("canary_env")
def test_calls_on_the_configured_url_keep_the_password_out_of_locals(
    call: str,
) -> None:
    with pytest.raises(dn.DashtamError) as info:
        ENV_CALLS[call]()
    assert_locals_clean(info.value)


@pytest.mark.parametrize("raw", BAD_URLS[:6], ids=[f"url{i}" for i in range(6)])
def test_a_malformed_database_url_variable_keeps_the_password_out_of_locals(
    raw: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", raw)
    try:
        with pytest.raises(dn.ConfigError) as info:
            dn.settings.reload()
        assert_locals_clean(info.value)
    finally:
        monkeypatch.undo()
        dn.settings.reload()


def test_the_rendering_sees_package_frames() -> None:
    """The check is not vacuous: package frames (with locals) are rendered."""
    with pytest.raises(dn.ValidationError) as info:
        dn.Database(_text_url(1), pool_size=-1)
    text = locals_rendered(info.value)
    assert "dashtam_nb" in text
    assert "database.py" in text
    assert "self = " in text  # a package frame's locals were captured
