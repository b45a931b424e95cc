"""The columnar path's arrays in the read map's types (`readmap`).

ADBC's PostgreSQL driver decodes binary COPY into Arrow by OID, close to the
map but not equal to it: numeric arrives as text, uuid as 16 bytes, float4
as float32, interval as month-day-nano, network types as their binary wire
form, small integers as int16/int32, infinite dates and timestamps as the
extreme integers. Each is turned into the map's type here with Arrow/NumPy
kernels (network types, rare in bulk, are decoded per value), and values no
dtype can hold are refused by column name, as on the row path.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashtam_nb.io import readmap
from dashtam_nb.io.pgbinary import fixed16, uuid_strings

if TYPE_CHECKING:
    from dashtam_nb.io.readmap import ReadColumn

__all__ = ["conform"]

_NETWORK = frozenset({"inet", "cidr", "macaddr", "macaddr8"})
_ARROW_ERRORS = (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError)
_INTERVAL = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanos", "<i8")])


def conform(arr: pa.Array, col: ReadColumn) -> pa.Array:
    """One ADBC column in ``col``'s Arrow type; refusals name the column."""
    if isinstance(arr.type, pa.BaseExtensionType):
        arr = arr.storage
    if col.element is not None:
        return _list(arr, col)
    try:
        converted = _scalar(arr, col)
        target = col.arrow
        if target is None or converted.type == target:
            return converted
        return pc.cast(converted, target)
    except _ARROW_ERRORS:
        raise readmap.value_refusal(
            col.name, f"a value does not fit {col.kind}"
        ) from None


def _list(arr: pa.Array, col: ReadColumn) -> pa.Array:
    assert col.element is not None
    if not pa.types.is_list(arr.type):
        raise readmap.value_refusal(col.name, f"a value does not fit {col.kind}")
    lists: pa.ListArray = arr
    offsets = lists.offsets
    first, last = offsets[0].as_py(), offsets[-1].as_py()
    values = conform(lists.values.slice(first, last - first), col.element)
    if first:
        offsets = pc.subtract(offsets, pa.scalar(first, offsets.type))
    mask = lists.is_null() if lists.null_count else None
    return pa.ListArray.from_arrays(offsets, values, mask=mask)


def _scalar(arr: pa.Array, col: ReadColumn) -> pa.Array:
    kind = col.kind
    if kind == "uuid":
        return _uuid(arr)
    if kind == "float4":
        return _float4_as_text_would_read(arr)
    if kind == "numeric":
        return _numeric(arr, col)
    if kind == "interval":
        return _interval(arr, col)
    if kind == "time" and _past_midnight(arr):
        raise readmap.value_refusal(col.name, "time 24:00:00 has no Arrow time of day")
    if kind in ("date", "timestamp", "timestamptz"):
        _check_finite_time(arr, col)
        return arr
    if kind in _NETWORK or (kind == '"char"' and pa.types.is_binary(arr.type)):
        return pa.array([_network(v, kind) for v in arr.to_pylist()], pa.string())
    return arr


def _past_midnight(arr: pa.Array) -> bool:
    """PostgreSQL's time 24:00:00 (a day's end), which Arrow's time64 lacks."""
    if len(arr) == arr.null_count:
        return False
    return bool(pc.max(arr.view(pa.int64())).as_py() >= 86_400_000_000)


def _uuid(arr: pa.Array) -> pa.Array:
    text = uuid_strings(fixed16(arr))
    if arr.null_count:
        text = pc.if_else(arr.is_valid(), text, pa.scalar(None, pa.string()))
    return text


def _numeric(arr: pa.Array, col: ReadColumn) -> pa.Array:
    """Numeric text (ADBC's form) as a decimal, or float64 in float mode."""
    if col.numeric == "float":
        return pc.cast(arr, pa.float64())
    special = pc.match_substring_regex(arr, "^-?(nan|inf)", ignore_case=True)
    if pc.any(special).as_py():
        raise readmap.not_finite(col.name)
    if col.arrow is not None:
        return pc.cast(arr, col.arrow)
    dot = pc.find_substring(arr, ".")
    length = pc.utf8_length(arr)
    has_dot = pc.greater_equal(dot, 0)
    scale = pc.if_else(has_dot, pc.subtract(pc.subtract(length, dot), 1), 0)
    whole = pc.if_else(has_dot, dot, length)
    negative = pc.starts_with(arr, "-")
    digits = pc.subtract(whole, pc.cast(negative, pa.int32()))
    top_scale = pc.max(scale).as_py() or 0
    top_digits = pc.max(digits).as_py() or 0
    target = readmap.unbounded_decimal(col.name, int(top_digits), int(top_scale))
    return pc.cast(arr, target)


def _interval(arr: pa.Array, col: ReadColumn) -> pa.Array:
    """month-day-nano as duration[us]; months have no fixed length (refused)."""
    if len(arr) == 0:
        return pa.array([], pa.duration("us"))
    data = np.frombuffer(arr.buffers()[1], dtype=_INTERVAL)[
        arr.offset : arr.offset + len(arr)
    ]
    valid = np.asarray(arr.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    if np.any(data["months"][valid] != 0):
        raise readmap.value_refusal(
            col.name, "an interval with months or years has no fixed duration"
        )
    micros = data["days"].astype(np.int64) * 86_400_000_000 + data["nanos"] // 1000
    return pa.array(
        micros, pa.duration("us"), mask=None if arr.null_count == 0 else ~valid
    )


# PostgreSQL's ±infinity are the extreme integers of its own epoch (2000);
# ADBC shifts them to 1970, so they land far outside every finite value.
_FINITE_DAYS = (-2_500_000, 2_146_000_000)  # finite dates: -2440588..2145042906
_FINITE_MICROS = (-300_000_000_000_000_000, 9_223_000_000_000_000_000)


def _check_finite_time(arr: pa.Array, col: ReadColumn) -> None:
    """Refuse ±infinity dates and timestamps (no Arrow value holds them)."""
    if len(arr) == arr.null_count:
        return
    day = pa.types.is_date32(arr.type)
    low, high = _FINITE_DAYS if day else _FINITE_MICROS
    bounds = pc.min_max(arr.view(pa.int32() if day else pa.int64()))
    if bounds["min"].as_py() < low or bounds["max"].as_py() > high:
        raise readmap.value_refusal(
            col.name, "an infinite date/timestamp has no Arrow value"
        )


def _network(value: bytes | None, kind: str) -> str | None:
    """The server's text form of an inet/cidr/macaddr wire value."""
    if value is None:
        return None
    if kind == '"char"':
        return value.decode()
    if kind in ("macaddr", "macaddr8"):
        return ":".join(f"{b:02x}" for b in value)
    family, bits, _is_cidr, size = value[0], value[1], value[2], value[3]
    raw = value[4 : 4 + size]
    text = str(ipaddress.ip_address(raw)) if family == 2 else _ipv6(raw)
    full = 32 if family == 2 else 128
    if kind == "cidr" or bits != full:
        return f"{text}/{bits}"
    return text


def _ipv6(raw: bytes) -> str:
    """IPv6 text as PostgreSQL writes it: an embedded IPv4 as a dotted quad.

    PostgreSQL (like BIND's inet_ntop) ends ``::a.b.c.d`` and
    ``::ffff:a.b.c.d`` with the IPv4 address; Python writes hex words there.
    """
    addr = ipaddress.IPv6Address(raw)
    words = [int.from_bytes(raw[i : i + 2], "big") for i in range(0, 16, 2)]
    leading = next((i for i, w in enumerate(words) if w), 8)
    quad = ipaddress.IPv4Address(raw[12:])
    if leading == 6 and words[6] != 0:
        return f"::{quad}"
    if leading == 5 and words[5] == 0xFFFF:
        return f"::ffff:{quad}"
    return str(addr)


def _float4_as_text_would_read(arr: pa.Array) -> pa.Array:
    """float4 values as the row path sees them: via their shortest decimal.

    PostgreSQL prints a ``real`` as its shortest round-trip decimal and
    psycopg parses that text as a double, so 0.1::real arrives as 0.1, not
    as the widened float32 (0.10000000149...). NumPy's float32 repr is that
    same shortest decimal.
    """
    values = arr.to_numpy(zero_copy_only=False).astype(np.float32)
    widened = values.astype(str).astype(np.float64)
    nulls = np.asarray(arr.is_null().to_numpy(zero_copy_only=False))
    return pa.array(widened, pa.float64(), mask=nulls if arr.null_count else None)
