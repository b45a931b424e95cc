"""Arrow-backed pandas columns pickled chunk by chunk, without a copy.

Dask moves a partition between processes by pickling it (protocol 5, each
buffer out of band). pandas' ``ArrowExtensionArray.__getstate__`` first calls
``combine_chunks()``, which copies every column, even a column of one chunk:
pickling a slice would otherwise carry its parent's whole buffer (ARROW-10739,
pandas GH 42600). Every frame of `Database.frame` is Arrow-backed, so every
partition that left a worker was copied once on the way out, and once more
after ``compute()`` concatenates the partitions into one frame of many
chunks. On a fresh page that copy is dear (here ~2 s for the 620 MB of 5M
rows; benchmarks/README.md "Scale out").

`register` installs, in ``copyreg``'s dispatch table, a reducer that keeps
the chunks as they are and copies only a chunk that is a small slice of a
larger buffer, so no pickle grows past its data. The pickle is pandas' own
shape (``copyreg.__newobj__`` and the same state, with the chunks as a list),
so any process with pandas loads it; nothing of ours is needed there. It is
process-wide, installed when `dashtam_nb.scale.reader` is imported: by
`dashtam_nb.dask` on the client, and on each worker by unpickling a
`PartitionReader` (the staging code imports it too).
"""

from __future__ import annotations

import copyreg
import pickle
from typing import Any

import pyarrow as pa
from pandas.arrays import ArrowExtensionArray

__all__ = ["reduce_arrow", "register"]

_SLACK = 4096  # bytes a chunk may carry beyond its data before it is compacted


def _compact(chunk: pa.Array) -> pa.Array:
    """The chunk, or a copy of it when it is a slice of a larger buffer."""
    waste = chunk.get_total_buffer_size() - chunk.nbytes
    if waste > chunk.nbytes // 4 + _SLACK:
        return pa.concat_arrays([chunk])
    return chunk


def reduce_arrow(array: ArrowExtensionArray) -> str | tuple[Any, ...]:
    """``__reduce__`` for an Arrow-backed pandas array: its chunks, uncopied."""
    state = array.__dict__.copy()
    chunked = state.get("_pa_array")
    if not isinstance(chunked, pa.ChunkedArray):  # a pandas that changed shape
        return array.__reduce_ex__(pickle.HIGHEST_PROTOCOL)
    # A list of arrays: pandas' __setstate__ wraps it with pa.chunked_array,
    # which copies a ChunkedArray (apache/arrow#42037) but not a list.
    chunks = [_compact(chunk) for chunk in chunked.chunks]
    state["_pa_array"] = chunks or chunked.combine_chunks()
    state["_cache"] = {}  # recomputable; as pandas' own __getstate__ drops it
    # The shape of object.__reduce_ex__(2+): cls.__new__(cls), then __setstate__.
    return copyreg.__newobj__, (type(array),), state  # type: ignore[attr-defined]


def _classes(base: type) -> list[type]:
    found = [base]
    sub: type
    for sub in base.__subclasses__():
        found += _classes(sub)
    return found


def register() -> None:
    """Pickle every Arrow-backed pandas array class through `reduce_arrow`."""
    for cls in _classes(ArrowExtensionArray):
        copyreg.pickle(cls, reduce_arrow)
