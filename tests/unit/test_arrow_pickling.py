"""Arrow-backed columns pickle without a copy, and load anywhere pandas is.

Over a matrix of Arrow types and chunk shapes (one chunk, many, an empty
chunk among them, none, a small slice of a large buffer): the round trip is
exact, every buffer of an unsliced chunk travels out of band as the same
memory (no copy), a slice carries only its own data, and the pickle loads in
an interpreter that has never imported dashtam_nb.
"""

from __future__ import annotations

import datetime as dt
import pickle
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest

from dashtam_nb.scale import pickling

pickling.register()

_TZ = dt.UTC
_VALUES: dict[str, tuple[pa.DataType, list[Any]]] = {
    "int8": (pa.int8(), [1, None, -128, 127]),
    "int16": (pa.int16(), [1, None, -32768, 32767]),
    "int32": (pa.int32(), [1, None, -(2**31), 2**31 - 1]),
    "int64": (pa.int64(), [1, None, -(2**63), 2**63 - 1]),
    "uint64": (pa.uint64(), [0, None, 2**64 - 1, 7]),
    "float32": (pa.float32(), [1.5, None, float("inf"), -0.0]),
    "float64": (pa.float64(), [1.5, None, float("nan"), 1e308]),
    "decimal": (pa.decimal128(14, 2), [Decimal("1.25"), None, Decimal("-9.99"), 0]),
    "decimal38": (pa.decimal128(38, 10), [Decimal("1e20"), None, Decimal("-1e-10"), 0]),
    "bool": (pa.bool_(), [True, None, False, True]),
    "string": (pa.string(), ["a", None, "", "ünï \x00 côdé"]),
    "large_string": (pa.large_string(), ["a", None, "", "x" * 300]),
    "binary": (pa.binary(), [b"\x00", None, b"", b"\xff" * 40]),
    "timestamptz": (
        pa.timestamp("us", tz="UTC"),
        [
            dt.datetime(2025, 1, 1, tzinfo=_TZ),
            None,
            dt.datetime(1, 1, 1, tzinfo=_TZ),
            dt.datetime(9999, 12, 31, tzinfo=_TZ),
        ],
    ),
    "timestamp": (
        pa.timestamp("us"),
        [
            dt.datetime(2025, 1, 1),
            None,
            dt.datetime(1970, 1, 1),
            dt.datetime(2000, 2, 29),
        ],
    ),
    "date": (
        pa.date32(),
        [dt.date(2025, 1, 1), None, dt.date(1, 1, 1), dt.date(9999, 12, 31)],
    ),
    "time": (
        pa.time64("us"),
        [dt.time(0, 0), None, dt.time(23, 59, 59, 999999), dt.time(12)],
    ),
    "interval": (
        pa.duration("us"),
        [dt.timedelta(days=1), None, dt.timedelta(0), dt.timedelta(microseconds=-1)],
    ),
    "list": (pa.list_(pa.int64()), [[1, None], None, [], [2**62]]),
    "list_text": (pa.list_(pa.string()), [["a"], None, [], [None, "b"]]),
    "struct": (
        pa.struct([("a", pa.int32()), ("b", pa.string())]),
        [{"a": 1, "b": "x"}, None, {"a": None, "b": None}, {"a": 2, "b": ""}],
    ),
    "dictionary": (pa.dictionary(pa.int32(), pa.string()), ["a", None, "b", "a"]),
    "null": (pa.null(), [None, None, None, None]),
}


def _chunked(kind: pa.DataType, values: list[Any], shape: str) -> pa.ChunkedArray:
    one = pa.array(values * 50, kind)
    if shape == "one":
        return pa.chunked_array([one])
    if shape == "many":
        return pa.chunked_array([pa.array(values, kind) for _ in range(7)])
    if shape == "with_empty":
        return pa.chunked_array([one, pa.array([], kind), pa.array(values, kind)])
    if shape == "none":
        return pa.chunked_array([], kind)
    assert shape == "slice"
    return pa.chunked_array([pa.array(values * 5000, kind).slice(4001, 9)])


def _series(kind: pa.DataType, values: list[Any], shape: str) -> pd.Series:
    column = _chunked(kind, values, shape)
    if kind == pa.string() and shape != "none":
        # The other class: pandas' own string dtype, Arrow storage.
        array = pd.array(column.to_pylist(), dtype=pd.StringDtype("pyarrow"))
        return pd.Series(array, name="s")
    return pd.Series(pd.arrays.ArrowExtensionArray(column), name="c")


def _dump(obj: object) -> tuple[bytes, list[pickle.PickleBuffer]]:
    buffers: list[pickle.PickleBuffer] = []
    return pickle.dumps(obj, protocol=5, buffer_callback=buffers.append), buffers


def _address(buffer: pickle.PickleBuffer) -> int:
    return int(pa.py_buffer(buffer.raw()).address)


SHAPES = ("one", "many", "with_empty", "none", "slice")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(_VALUES))
def test_round_trip_is_exact(name: str, shape: str) -> None:
    series = _series(*_VALUES[name], shape)
    data, buffers = _dump(series)
    back = pickle.loads(data, buffers=buffers)
    assert type(back.array) is type(series.array)
    assert back.dtype == series.dtype
    pd.testing.assert_series_equal(back, series, check_exact=True)
    # In band too (no buffer_callback): protocol 5 without out-of-band buffers.
    again = pickle.loads(pickle.dumps(series, protocol=5))
    pd.testing.assert_series_equal(again, series, check_exact=True)


@pytest.mark.parametrize("shape", ["one", "many", "with_empty"])
@pytest.mark.parametrize("name", sorted(_VALUES))
def test_unsliced_chunks_travel_as_the_same_memory(name: str, shape: str) -> None:
    series = _series(*_VALUES[name], shape)
    sent = {_address(b) for b in _dump(series)[1]}
    for chunk in series.array._pa_array.chunks:
        for buffer in _buffers(chunk):
            assert buffer.address in sent, (name, shape)


def _buffers(array: pa.Array) -> list[pa.Buffer]:
    """Every non-empty buffer of an array, its children's and dictionary's too."""
    found = [b for b in array.buffers() if b is not None and b.size]
    if isinstance(array, pa.DictionaryArray):
        found += _buffers(array.dictionary)
    return found


@pytest.mark.parametrize("name", sorted(_VALUES))
def test_a_slice_carries_only_its_own_data(name: str) -> None:
    series = _series(*_VALUES[name], "slice")
    chunk = series.array._pa_array.chunk(0)
    data, buffers = _dump(series)
    carried = len(data) + sum(b.raw().nbytes for b in buffers)
    assert carried <= 2 * chunk.nbytes + 8192, (carried, chunk.get_total_buffer_size())


def test_a_frame_of_many_chunks_loads_without_dashtam() -> None:
    parts = [
        pd.DataFrame(
            {
                name: pd.arrays.ArrowExtensionArray(pa.array(values, kind))
                for name, (kind, values) in _VALUES.items()
            }
        )
        for _ in range(3)
    ]
    whole = pd.concat(parts, ignore_index=True)
    data = pickle.dumps(whole, protocol=5)
    assert b"dashtam" not in data
    code = (
        "import pickle, sys; f = pickle.loads(sys.stdin.buffer.read()); "
        "assert not any(m.startswith('dashtam') for m in sys.modules); "
        "print(len(f), f.shape[1])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, check=True
    )
    assert out.stdout.split() == [b"12", str(len(_VALUES)).encode()]


class _Renamed:
    """An array whose pandas renamed its state: no ``_pa_array`` any more."""

    def __init__(self) -> None:
        self._data = [1, 2]


def test_a_pandas_without_pa_array_falls_back_to_its_own_pickling() -> None:
    odd = _Renamed()
    reduced = pickling.reduce_arrow(odd)  # type: ignore[arg-type]
    assert reduced == odd.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
