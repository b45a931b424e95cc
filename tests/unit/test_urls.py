"""`dashtam_nb.urls`: parsing, masking and naming database URLs, no server.

The fixed malformed-URL table (and its S check through `Database`) lives in
tests/fault/test_fault_connect.py; here the same rules are checked over
generated passwords, plus the renderings (`masked`, `describe_target`).
"""

from __future__ import annotations

from urllib.parse import quote, unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import URL

import dashtam_nb as dn
from dashtam_nb.urls import ASYNC_DRIVER, describe_target, masked, parse_database_url
from tests.support.harness import error_texts, secret_needles

# Any text PostgreSQL accepts as a password (UTF-8: no lone surrogates).
passwords = st.text(st.characters(exclude_categories=["Cs"]), min_size=1)
# Raw (unencoded) passwords built from the characters that break URLs. The
# letters and digits never occur in our messages, so a hit is a real echo.
_PIECES = [*"@/?#%:[] +!$&'(),;=~QXZJ0123456789éß", "%41", "%2", "%zz", "%25"]
raw_passwords = st.lists(st.sampled_from(_PIECES), min_size=1, max_size=16).map(
    lambda parts: "QX7" + "".join(parts) + "Z9J"
)


def _tcp(password: str) -> URL:
    return URL.create(
        "postgresql+psycopg",
        username="app",
        password=password,
        host="db.example",
        port=5432,
        database="ledger",
    )


@settings(max_examples=300, deadline=None)
@given(passwords)
def test_any_percent_encoded_password_parses_back_exactly(password: str) -> None:
    url = parse_database_url(f"postgresql://app:{quote(password, safe='')}@h/db")
    assert (url.password, url.host, url.database) == (password, "h", "db")


@settings(max_examples=300, deadline=None)
@given(passwords)
def test_urls_rendered_by_sqlalchemy_parse_back_exactly(password: str) -> None:
    rendered = _tcp(password).render_as_string(hide_password=False)
    url = parse_database_url(rendered)
    assert url.password == password
    assert (url.host, url.port, url.database) == ("db.example", 5432, "ledger")


@settings(max_examples=500, deadline=None)
@given(raw_passwords)
def test_a_raw_password_parses_whole_or_fails_without_echoing_it(
    password: str,
) -> None:
    """Never a silent split: the host, port and database stay what was written."""
    raw = f"postgresql://app:{password}@db.example:5432/ledger"
    error: dn.ConfigError | None = None
    try:
        url = parse_database_url(raw)
    except dn.ConfigError as exc:
        error = exc
    if error is None:
        got = (url.password, url.host, url.port, url.database)
        assert got == (unquote(password), "db.example", 5432, "ledger")
        return
    assert error.part in {"password", "port", "host", "url"}
    # Message, repr, chained errors and every frame's locals (%xmode Verbose).
    texts = error_texts(error)
    leaked = [n for n in secret_needles(password) if any(n in t for t in texts)]
    assert not leaked, f"{error!s} echoes {leaked}"
    assert "\n" not in str(error)


@pytest.mark.parametrize(
    ("raw", "part"),
    [
        ("postgresql://app:se@cret?tail@db.example:5432/ledger", "password"),
        ("postgresql://app:se#cret@db.example/ledger", "password"),
        ("postgresql://app:se?cret@db.example/ledger", "port"),
        ("postgresql://app:pw@db.example:٥٤٣٢/ledger", "port"),  # Arabic digits
        ("postgresql://app:pw@db.example:65536/ledger", "port"),
        ("postgresql://app:pw@db.example:-1/ledger", "port"),
        ("POSTGRESQL://app:pw@db.example/ledger", "scheme"),
        ("postgresql+pg8000://app:pw@db.example/ledger", "driver"),
    ],
)
def test_malformed_urls_name_the_part(raw: str, part: str) -> None:
    with pytest.raises(dn.ConfigError) as info:
        parse_database_url(raw)
    assert info.value.part == part, str(info.value)
    assert "cret" not in str(info.value)


@pytest.mark.parametrize(
    ("raw", "port"),
    [
        ("postgresql://app:pw@db.example:1/ledger", 1),
        ("postgresql://app:pw@db.example:65535/ledger", 65535),
        ("postgresql://app:pw@[2001:db8::1]:6432/ledger", 6432),
        ("postgresql://app:pw@db.example/ledger", None),
    ],
)
def test_ports_at_the_edges_parse(raw: str, port: int | None) -> None:
    assert parse_database_url(raw).port == port


@pytest.mark.parametrize(
    "scheme", ["postgresql", "postgres", "postgresql+psycopg", "postgres+psycopg_async"]
)
def test_every_accepted_scheme_becomes_the_async_psycopg_driver(scheme: str) -> None:
    url = parse_database_url(f"{scheme}://app:pw@h/db")
    assert url.drivername == ASYNC_DRIVER == "postgresql+psycopg"


def test_url_objects_are_checked_too() -> None:
    with pytest.raises(dn.ConfigError) as info:
        parse_database_url(URL.create("mysql+pymysql", host="h", database="d"))
    assert info.value.part == "scheme"
    with pytest.raises(dn.ConfigError) as info:
        parse_database_url(URL.create("postgresql", host="pw@h", database="d"))
    assert info.value.part == "host"
    # URL.create needs no escaping: the raw password passes through untouched.
    assert parse_database_url(_tcp("a@b/c?d#e%f g")).password == "a@b/c?d#e%f g"


def test_long_unknown_schemes_are_cut_in_the_message() -> None:
    with pytest.raises(dn.ConfigError) as info:
        parse_database_url("x" * 500 + "://h/db")
    assert len(str(info.value)) < 120


@settings(max_examples=200, deadline=None)
@given(passwords)
def test_masked_shows_everything_but_the_password(password: str) -> None:
    text = masked(_tcp(password))
    assert text == "postgresql+psycopg://app:***@db.example:5432/ledger"


def test_masked_keeps_the_query_and_a_url_without_password() -> None:
    url = parse_database_url("postgresql://app@/ledger?host=/run/postgresql")
    assert masked(url) == "postgresql+psycopg://app@/ledger?host=%2Frun%2Fpostgresql"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (_tcp("s3cret"), "database 'ledger' on db.example:5432"),
        (
            URL.create("postgresql+psycopg", host="db.example", database="ledger"),
            "database 'ledger' on db.example",
        ),
        (
            URL.create("postgresql+psycopg", database="d", query={"host": "/tmp/x"}),
            "database 'd' on embedded server",
        ),
        (
            URL.create("postgresql+psycopg", database="d", query={"host": ("a", "b")}),
            "database 'd' on a",
        ),
        (
            URL.create("postgresql+psycopg", database="d"),
            "database 'd' on local socket",
        ),
    ],
)
def test_describe_target_names_database_and_server(url: URL, expected: str) -> None:
    assert describe_target(url) == expected


@settings(max_examples=200, deadline=None)
@given(passwords)
def test_describe_target_never_shows_user_or_password(password: str) -> None:
    url = _tcp(password).set(username="u" + password)
    assert describe_target(url) == "database 'ledger' on db.example:5432"
