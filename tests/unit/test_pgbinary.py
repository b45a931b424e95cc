"""`dashtam_nb.io.pgbinary`: binary COPY bytes, checked without a server.

The oracle is psycopg's own binary dumpers, which produce exactly the
payloads PostgreSQL's ``*_send`` functions define; numeric is pinned by hand
(PostgreSQL accepts our fixed digit count; psycopg strips zero groups).
tests/integration/test_bulk_roundtrip.py loads the same encodings into a
real server.
"""

from __future__ import annotations

import struct
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from psycopg.types.bool import BoolBinaryDumper
from psycopg.types.datetime import DateBinaryDumper, DatetimeBinaryDumper
from psycopg.types.json import Jsonb, JsonbBinaryDumper
from psycopg.types.numeric import (
    Float4BinaryDumper,
    FloatBinaryDumper,
    Int2BinaryDumper,
    Int4BinaryDumper,
    Int8BinaryDumper,
)
from psycopg.types.string import StrBinaryDumper
from psycopg.types.uuid import UUIDBinaryDumper

from dashtam_nb.io.pgbinary import (
    HEADER,
    TRAILER,
    encode_rows,
    fixed16,
    uuid_bytes,
    uuid_strings,
)

NULL = b"\xff\xff\xff\xff"
ORACLE: dict[str, Any] = {
    "bool": BoolBinaryDumper(bool),
    "int2": Int2BinaryDumper(int),
    "int4": Int4BinaryDumper(int),
    "int8": Int8BinaryDumper(int),
    "float4": Float4BinaryDumper(float),
    "float8": FloatBinaryDumper(float),
    "text": StrBinaryDumper(str),
    "jsonb": JsonbBinaryDumper(Jsonb),
    "uuid": UUIDBinaryDumper(uuid.UUID),
    "date": DateBinaryDumper(date),
    "timestamptz": DatetimeBinaryDumper(datetime),
}
ARROW = {
    "bool": pa.bool_(),
    "int2": pa.int16(),
    "int4": pa.int32(),
    "int8": pa.int64(),
    "float4": pa.float32(),
    "float8": pa.float64(),
    "text": pa.string(),
    "jsonb": pa.string(),
    "uuid": pa.binary(16),
    "date": pa.date32(),
    "timestamptz": pa.timestamp("us", tz="UTC"),
}


def field(kind: str, value: Any) -> bytes:
    """One field as PostgreSQL writes it: int32 length + payload, or NULL."""
    if value is None:
        return NULL
    dumped = value
    if kind == "jsonb":
        dumped = Jsonb(value, dumps=lambda text: text)
    elif kind == "uuid":
        dumped = uuid.UUID(bytes=value)
    payload = bytes(ORACLE[kind].dump(dumped))
    return struct.pack(">i", len(payload)) + payload


def expected_rows(kinds: list[str], columns: list[list[Any]]) -> bytes:
    rows = zip(*columns, strict=True)
    return b"".join(
        struct.pack(">h", len(kinds))
        + b"".join(field(k, v) for k, v in zip(kinds, row, strict=True))
        for row in rows
    )


def encoded(kinds: list[str], columns: list[list[Any]]) -> bytes:
    arrays = [pa.array(c, ARROW[k]) for k, c in zip(kinds, columns, strict=True)]
    return bytes(encode_rows(kinds, arrays))


def test_header_and_trailer_are_postgresqls() -> None:
    assert HEADER == b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
    assert len(HEADER) == 19
    assert struct.pack(">h", -1) == TRAILER


@pytest.mark.parametrize(
    ("kind", "value", "payload"),
    [
        ("bool", True, b"\x01"),
        ("int2", -2, b"\xff\xfe"),
        ("int4", 1, b"\x00\x00\x00\x01"),
        ("int8", 2**40, b"\x00\x00\x01\x00\x00\x00\x00\x00"),
        ("float8", 1.5, b"\x3f\xf8\x00\x00\x00\x00\x00\x00"),
        ("float4", -2.0, b"\xc0\x00\x00\x00"),
        ("text", "é", b"\xc3\xa9"),
        ("jsonb", '{"a":1}', b'\x01{"a":1}'),
        ("date", date(2000, 1, 2), b"\x00\x00\x00\x01"),
        ("date", date(1999, 12, 31), b"\xff\xff\xff\xff"),
        # 1 s after the PostgreSQL epoch, in microseconds.
        (
            "timestamptz",
            datetime(2000, 1, 1, 0, 0, 1, tzinfo=UTC),
            b"\x00\x00\x00\x00\x00\x0f\x42\x40",
        ),
    ],
)
def test_known_values_give_postgresqls_bytes(
    kind: str, value: Any, payload: bytes
) -> None:
    row = encoded([kind], [[value]])
    assert row == b"\x00\x01" + struct.pack(">i", len(payload)) + payload


def test_a_null_is_length_minus_one_and_no_payload() -> None:
    kinds = list(ARROW)
    assert encoded(kinds, [[None] for _ in kinds]) == struct.pack(
        ">h", len(kinds)
    ) + NULL * len(kinds)


@pytest.mark.parametrize(
    ("value", "scale", "precision", "payload"),
    [
        # ndigits, weight, sign, dscale, then base-10000 digits (fixed count).
        (Decimal("123.45"), 2, 5, [2, 0, 0, 2, 123, 4500]),
        (Decimal("-123.45"), 2, 5, [2, 0, 0x4000, 2, 123, 4500]),
        (Decimal("0.00"), 2, 5, [2, 0, 0, 2, 0, 0]),
        (Decimal("12345678.9"), 1, 18, [6, 4, 0, 1, 0, 0, 0, 1234, 5678, 9000]),
        (Decimal("7"), 0, 4, [1, 0, 0, 0, 7]),
        (Decimal("0.0001"), 4, 4, [2, 0, 0, 4, 0, 1]),
    ],
)
def test_numeric_payloads(
    value: Decimal, scale: int, precision: int, payload: list[int]
) -> None:
    column = pa.array([value], pa.decimal128(precision, scale))
    body = struct.pack(f">{len(payload)}H", *[p & 0xFFFF for p in payload])
    assert (
        bytes(encode_rows(["numeric"], [column]))
        == b"\x00\x01" + struct.pack(">i", len(body)) + body
    )


def test_numeric_payloads_mean_the_same_number_as_psycopgs() -> None:
    """Our digits are psycopg's, padded with zero groups PostgreSQL ignores."""
    from psycopg.types.numeric import DecimalBinaryDumper

    def number(payload: bytes) -> Decimal:
        ndigits, weight, sign, dscale = struct.unpack(">hhHh", payload[:8])
        digits = struct.unpack(f">{ndigits}h", payload[8:])
        total: Decimal = sum(
            (Decimal(d) * Decimal(10000) ** (weight - i) for i, d in enumerate(digits)),
            Decimal(0),
        )
        return (-total if sign == 0x4000 else total).quantize(
            Decimal(1).scaleb(-dscale)
        )

    for value in (Decimal("123.45"), Decimal("-0.01"), Decimal("99999999999999.99")):
        ours = bytes(
            encode_rows(["numeric"], [pa.array([value], pa.decimal128(16, 2))])
        )[6:]
        theirs = DecimalBinaryDumper(Decimal).dump(value)
        assert theirs is not None
        theirs = bytes(theirs)
        assert number(ours) == number(theirs) == value


texts = st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\x00"))
values: dict[str, st.SearchStrategy[Any]] = {
    "bool": st.booleans(),
    "int2": st.integers(-(2**15), 2**15 - 1),
    "int4": st.integers(-(2**31), 2**31 - 1),
    "int8": st.integers(-(2**63), 2**63 - 1),
    "float4": st.floats(width=32, allow_nan=False),
    "float8": st.floats(allow_nan=False),
    "text": texts,
    "jsonb": texts,  # the encoder prefixes the version byte; any text will do
    "uuid": st.uuids().map(lambda u: u.bytes),
    "date": st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    "timestamptz": st.datetimes(
        min_value=datetime(1, 1, 2),
        max_value=datetime(9999, 12, 30),
        timezones=st.sampled_from([UTC, timezone(timedelta(hours=5, minutes=30))]),
    ),
}


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[str], list[list[Any]]]:
    kinds = draw(st.lists(st.sampled_from(list(values)), min_size=1, max_size=6))
    n = draw(st.integers(1, 8))
    columns = [
        draw(st.lists(st.one_of(st.none(), values[k]), min_size=n, max_size=n))
        for k in kinds
    ]
    return kinds, columns


@settings(max_examples=300, deadline=None)
@given(tables())
def test_any_table_encodes_as_psycopg_would_row_by_row(
    table: tuple[list[str], list[list[Any]]],
) -> None:
    kinds, columns = table
    assert encoded(kinds, columns) == expected_rows(kinds, columns)


def test_sliced_and_chunked_columns_encode_their_own_rows() -> None:
    full = pa.array([1, 2, None, 4, 5], pa.int64())
    words = pa.array(["a", "bb", None, "dddd", "e"])
    sliced = bytes(encode_rows(["int8", "text"], [full.slice(1, 3), words.slice(1, 3)]))
    assert sliced == expected_rows(
        ["int8", "text"], [[2, None, 4], ["bb", None, "dddd"]]
    )
    chunked = pa.chunked_array([[1, 2], [3]], pa.int32())
    assert bytes(encode_rows(["int4"], [chunked])) == expected_rows(
        ["int4"], [[1, 2, 3]]
    )


def test_no_rows_and_no_columns_encode_to_nothing() -> None:
    assert bytes(encode_rows(["int4"], [pa.array([], pa.int32())])) == b""
    assert bytes(encode_rows([], [])) == b""


@settings(max_examples=100, deadline=None)
@given(st.lists(st.uuids(), max_size=50))
def test_uuid_text_and_bytes_convert_both_ways(ids: list[uuid.UUID]) -> None:
    raw = np.frombuffer(b"".join(u.bytes for u in ids), dtype=np.uint8).reshape(-1, 16)
    text = uuid_strings(raw)
    assert text.to_pylist() == [str(u) for u in ids]
    back, bad = uuid_bytes(pa.array([str(u).upper() for u in ids], pa.string()))
    assert not bad.any()
    assert bytes(back.tobytes()) == b"".join(u.bytes for u in ids)
    as_fixed = pa.array([u.bytes for u in ids], pa.binary(16))
    assert fixed16(as_fixed).tobytes() == raw.tobytes()


def test_non_canonical_uuid_text_is_flagged_and_nulls_are_not() -> None:
    good = "12345678-9abc-def0-1234-56789abcdef0"
    cases = [
        good,
        None,
        good.replace("-", ""),
        good[:-1] + "g",
        "{" + good[1:-1] + "}",
        good[:8] + "_" + good[9:],
        "é" * 36,
    ]
    _, bad = uuid_bytes(pa.array(cases, pa.string()))
    assert bad.tolist() == [False, False, True, True, True, True, True]
