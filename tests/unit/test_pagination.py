"""`dashtam_nb.pagination`: signed keyset cursors and argument checks, no server.

tests/integration/test_pagination.py walks real pages and throws modified
cursors at `keyset_page`; here the encoding itself is pinned: what round-trips,
and that every modification, truncation or foreign key is refused.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dashtam_nb as dn
from dashtam_nb import pagination
from dashtam_nb.pagination import check_page_args, decode_cursor, encode_cursor

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

sort_values = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=40),
    st.booleans(),
    st.none(),
    st.uuids(),
    st.decimals(allow_nan=False, allow_infinity=False, places=4),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-5))])),
    st.datetimes(),  # naive: timestamp without time zone columns
)
ids = st.uuids()


def _cursor(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "scope": "users",
        "sort": "created_at",
        "direction": "next",
        "key": [datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC), UUID(int=7)],
    }
    args.update(overrides)
    return encode_cursor(**args)


@settings(max_examples=300, deadline=None)
@given(sort_values, ids, st.sampled_from(["next", "prev"]), st.booleans())
def test_a_cursor_round_trips_its_position_exactly(
    value: Any, row_id: UUID, direction: str, inclusive: bool
) -> None:
    cursor = encode_cursor(
        "users", "-email", direction, [value, row_id], inclusive=inclusive
    )
    got_direction, got_inclusive, key = decode_cursor(cursor, "users", "-email")
    assert (got_direction, got_inclusive) == (direction, inclusive)
    assert key == [value, row_id]
    assert [type(v) for v in key] == [type(value), UUID]
    if isinstance(value, datetime):
        assert key[0].utcoffset() == value.utcoffset()  # zone kept, not only instant


def test_a_date_like_string_stays_a_string() -> None:
    text = "2025-03-04T05:06:07+00:00"
    key = decode_cursor(
        _cursor(key=[text, "00000000-0000-0000-0000-000000000007"]),
        "users",
        "created_at",
    )[2]
    assert key == [text, "00000000-0000-0000-0000-000000000007"]
    assert all(isinstance(v, str) for v in key)


def test_decimals_keep_their_scale() -> None:
    key = decode_cursor(_cursor(key=[Decimal("1.10"), 1]), "users", "created_at")[2]
    assert str(key[0]) == "1.10"


def test_cursors_are_url_safe_text() -> None:
    cursor = _cursor(key=["ü/+?=&" * 20, UUID(int=1)])
    assert set(cursor) <= set(_ALPHABET)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_any_single_character_change_is_refused(data: st.DataObject) -> None:
    cursor = _cursor()
    i = data.draw(st.integers(0, len(cursor) - 1), label="position")
    new = data.draw(st.sampled_from(_ALPHABET.replace(cursor[i], "")), label="char")
    with pytest.raises(dn.ValidationError, match="invalid or modified") as info:
        decode_cursor(cursor[:i] + new + cursor[i + 1 :], "users", "created_at")
    assert info.value.field == "cursor"


def test_the_spare_bits_of_the_last_character_count() -> None:
    """A lenient base64 decoder maps several last characters to the same bytes."""

    def lenient(text: str) -> bytes:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

    aliases: list[str] = []
    for n in range(4):  # some lengths leave spare bits in the last character
        cursor = _cursor(key=["x" * n, UUID(int=1)])
        aliases += [
            cursor[:-1] + c
            for c in _ALPHABET
            if c != cursor[-1] and lenient(cursor[:-1] + c) == lenient(cursor)
        ]
    assert aliases
    for alias in aliases:
        with pytest.raises(dn.ValidationError):
            decode_cursor(alias, "users", "created_at")


def test_every_truncation_and_extension_is_refused() -> None:
    cursor = _cursor()
    bad = [cursor[:n] for n in range(len(cursor))]
    bad += [cursor + c for c in "A_-="] + [cursor + "==", " " + cursor, cursor + "\n"]
    for text in bad:
        with pytest.raises(dn.ValidationError):
            decode_cursor(text, "users", "created_at")


@pytest.mark.parametrize(
    "cursor", [None, 7, b"abc", ["x"], "", "!!!!", "é" * 8, "A" * 2049, "forged"]
)
def test_non_cursors_are_refused(cursor: object) -> None:
    with pytest.raises(dn.ValidationError) as info:
        decode_cursor(cursor, "users", "created_at")
    assert (info.value.field, info.value.message) == (
        "cursor",
        "invalid or modified cursor",
    )


def test_a_cursor_signed_with_another_key_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pagination, "_KEY", b"another process, another key")
    foreign = _cursor()
    monkeypatch.undo()
    with pytest.raises(dn.ValidationError, match="invalid or modified"):
        decode_cursor(foreign, "users", "created_at")
    decode_cursor(_cursor(), "users", "created_at")  # ours still passes


@pytest.mark.parametrize(
    ("scope", "sort"),
    [("accounts", "created_at"), ("users", "-created_at"), ("users", "email")],
)
def test_a_cursor_of_another_listing_or_order_is_refused(scope: str, sort: str) -> None:
    with pytest.raises(dn.ValidationError, match="another listing") as info:
        decode_cursor(_cursor(), scope, sort)
    assert info.value.field == "cursor"


def test_the_key_comes_from_dashtam_cursor_key_when_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two processes with the same key share cursors; without it, they do not."""
    code = (
        "from uuid import UUID; from dashtam_nb.pagination import encode_cursor;"
        "print(encode_cursor('users', 'email', 'next', ['a@b.c', UUID(int=3)]))"
    )

    def from_process(key: str | None) -> str:
        env = {k: v for k, v in os.environ.items() if k != "DASHTAM_CURSOR_KEY"}
        if key is not None:
            env["DASHTAM_CURSOR_KEY"] = key
        done = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout.strip()

    shared, private = from_process("a shared secret"), from_process(None)
    monkeypatch.setattr(pagination, "_KEY", b"a shared secret")
    assert decode_cursor(shared, "users", "email") == (
        "next",
        False,
        ["a@b.c", UUID(int=3)],
    )
    with pytest.raises(dn.ValidationError):
        decode_cursor(private, "users", "email")


@pytest.mark.parametrize(
    ("page", "size", "field"),
    [
        (0, 10, "page"),
        (True, 10, "page"),
        (1.0, 10, "page"),
        ("1", 10, "page"),
        (10**9 + 1, 10, "page"),
        (1, 0, "page_size"),
        (1, pagination.MAX_PAGE_SIZE + 1, "page_size"),
        (1, False, "page_size"),
        (1, None, "page_size"),
    ],
)
def test_bad_page_arguments_name_their_field(
    page: object, size: object, field: str
) -> None:
    with pytest.raises(dn.ValidationError) as info:
        check_page_args(page, size)
    assert info.value.field == field


def test_page_arguments_at_the_edges_pass() -> None:
    assert check_page_args(1, 1) == (1, 1)
    assert check_page_args(pagination.MAX_PAGE, pagination.MAX_PAGE_SIZE) == (
        pagination.MAX_PAGE,
        pagination.MAX_PAGE_SIZE,
    )
