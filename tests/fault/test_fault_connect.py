"""Bad URLs and unreachable servers (plan A1-A4): typed, fast, one line, no secret."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pytest

import dashtam_nb as dn
from dashtam_nb.config import parse_database_url
from tests.support.harness import (
    CANARY,
    assert_error_clean,
    assert_no_secret,
    bad_input,
    no_sql,
    refused_port,
    survived,
    tarpit_port,
)
from tests.support.pgfault import OTHER_ROLE

if TYPE_CHECKING:
    from tests.support.pgfault import FaultServer

pytestmark = pytest.mark.fault

ENC = quote(CANARY, safe="")

# (raw URL, the part the ConfigError must name). Raw strings on purpose.
MALFORMED: list[tuple[str, str]] = [
    (f"postgresql+psycopg:://app:{ENC}@h/db", "scheme"),
    (f"app:{ENC}@h/db", "scheme"),
    (f"//app:{ENC}@h/db", "scheme"),
    (f"mysql://app:{ENC}@h/db", "scheme"),
    (f"sqlite:///app{ENC}.db", "scheme"),
    (f"postgresql+nosuch://app:{ENC}@h/db", "driver"),
    (f"postgresql+psycopg2://app:{ENC}@h/db", "driver"),
    (f"postgresql+asyncpg://app:{ENC}@h/db", "driver"),
    (f"postgresql://app:{ENC}@h:notaport/db", "port"),
    (f"postgresql://app:{ENC}@h:54 32/db", "port"),
    (f"postgresql://app:{ENC}@h:99999/db", "port"),
    (f"postgresql://app:{ENC}@h:0/db", "port"),
    ("postgresql://app:Zq9Kanary%zzWx7Plm@h/db", "password"),
    ("postgresql://app:Zq9Kanary%2@h/db", "password"),
    ("postgresql://app:Zq9Kanary%G1Wx7Plm@h/db", "password"),
    (f"postgresql://app:{CANARY}@127.0.0.1/db", "password"),
    ("postgresql://app:Zq9Kanary@Wx7Plm@127.0.0.1/db", "password"),
    ("postgresql://app:Zq9Kanary%Wx7Plm@127.0.0.1/db", "password"),
    ("postgresql://app:Zq9Kanary/Wx7Plm@127.0.0.1/db", "password"),
    (f"postgresql://app:{CANARY}@127.0.0.1:5432/db?sslmode=disable", "password"),
    ("postgresql://app:Zq9Kanary:Wx7Plm?x@h/db", "port"),
    ("", "url"),
    ("   ", "url"),
]


@pytest.mark.parametrize(("raw", "part"), MALFORMED)
def test_malformed_url_names_the_part_and_hides_the_password(
    raw: str, part: str
) -> None:
    bad_input()
    with no_sql(), pytest.raises(dn.ConfigError) as info:
        dn.Database(raw)
    assert info.value.part == part, str(info.value)
    assert_error_clean(info.value)
    # The same text through the environment path.
    with pytest.raises(dn.ConfigError):
        parse_database_url(raw)


def test_sqlalchemy_rendered_urls_parse_back_exactly() -> None:
    """render_as_string() percent-encodes @ % / but leaves spaces as they are."""
    url = dn.Database(f"postgresql://app:{ENC}@127.0.0.1:5/db").url
    rendered = url.render_as_string(hide_password=False)
    assert parse_database_url(rendered).password == CANARY
    spaced = parse_database_url("postgresql://app:two words@127.0.0.1/db")
    assert spaced.password == "two words"


@pytest.mark.parametrize(
    "raw", [None, 5432, b"postgresql://h/db", ["postgresql://h/db"]]
)
def test_url_of_the_wrong_type_is_a_validation_error(raw: Any) -> None:
    bad_input()
    with pytest.raises(dn.ValidationError) as info:
        parse_database_url(raw)
    assert info.value.field == "database_url"


@pytest.mark.parametrize(
    "raw",
    [
        "postgresql:///db?host=/run/postgresql",
        "postgresql://postgres:@/postgres?host=/tmp/pg",
        f"postgresql://app:{ENC}@[::1]:5432/db",
        f"postgres://app:{ENC}@db.example:5432/db?sslmode=require",
        f"postgresql+psycopg://app:{ENC}@h/db?options=-c%20statement_timeout%3D5",
    ],
)
def test_well_formed_urls_still_parse(raw: str) -> None:
    url = parse_database_url(raw)
    assert url.drivername == "postgresql+psycopg"
    assert_no_secret(repr(url), dn.config.masked(url))


def test_encoded_canary_url_parses_and_masks(pg: FaultServer) -> None:
    url = parse_database_url(f"postgresql://app:{ENC}@127.0.0.1:{pg.port}/postgres")
    assert url.password == CANARY
    assert url == pg.url()
    assert_no_secret(repr(url), str(url), dn.config.masked(url), repr(dn.Database(url)))


def test_url_create_with_the_raw_canary_connects(pg: FaultServer) -> None:
    db = dn.Database(pg.url(), connect_timeout=2)
    try:
        assert db.scalar("SELECT current_user") == "app"
        assert_no_secret(repr(db), str(db), db.target, repr(db.url))
    finally:
        dn.run(db.close())


def _connect_error(
    url: Any, *, budget: float, connect_timeout: float = 2
) -> dn.ConnectError:
    bad_input()
    db = dn.Database(url, connect_timeout=connect_timeout)
    started = time.monotonic()
    try:
        with pytest.raises(dn.ConnectError) as info:
            db.scalar("SELECT 1")
        elapsed = time.monotonic() - started
        assert elapsed < budget, f"took {elapsed:.1f}s"
        assert db.pool_status()["checked_out"] == 0
        assert_error_clean(info.value)
        assert info.value.original is not None  # kept for debugging, not shown
        return info.value
    finally:
        dn.run(db.close())


def test_wrong_password_is_auth(pg: FaultServer) -> None:
    err = _connect_error(pg.url(password="not-the-password"), budget=2)
    assert err.kind == "auth"
    assert "authentication failed" in str(err)


def test_canary_sent_as_a_wrong_password_is_auth_and_not_echoed(
    pg: FaultServer,
) -> None:
    err = _connect_error(pg.url(username=OTHER_ROLE), budget=2)
    assert err.kind == "auth"


def test_unknown_role_is_auth(pg: FaultServer) -> None:
    assert _connect_error(pg.url(username="nobody_here"), budget=2).kind == "auth"


def test_unknown_host_is_dns(pg: FaultServer) -> None:
    err = _connect_error(pg.url(host="no-such-host.invalid"), budget=4)
    assert err.kind == "dns"
    assert "unknown host" in str(err)


def test_refused_port(pg: FaultServer) -> None:
    with refused_port() as port:
        err = _connect_error(pg.url(port=port), budget=2)
    assert err.kind == "refused"


def test_server_that_never_answers_times_out_within_budget(pg: FaultServer) -> None:
    with tarpit_port() as port:
        err = _connect_error(pg.url(port=port), budget=2 + 2, connect_timeout=2)
    assert err.kind == "timeout"


def test_missing_database(pg: FaultServer) -> None:
    err = _connect_error(pg.url("no_such_database"), budget=2)
    assert err.kind == "db_missing"
    assert "no_such_database" in str(err)


def test_server_down_then_up(pg: FaultServer, fdb: dn.Database) -> None:
    assert fdb.scalar("SELECT 1") == 1
    pg.crash()
    try:
        started = time.monotonic()
        with pytest.raises(dn.ConnectError) as info:
            fdb.scalar("SELECT 1")
        assert info.value.kind == "refused"
        assert time.monotonic() - started < 2 + 2
        assert_error_clean(info.value)
    finally:
        pg.start()
    assert fdb.scalar("SELECT 2") == 2  # recovery needs no user action
    assert fdb.pool_status()["checked_out"] == 0
    survived()
