"""The machinery behind `dashtam_nb.dask` (partitioned reads, staged writes).

Nothing here imports Dask: `snapshot` holds the client's exported snapshot,
`target` names a database without its credentials, `plan` splits a read into
partitions, `reader` reads one partition on a worker, `staging` loads and
publishes a parallel write, and `pickling` pickles Arrow-backed columns without
pandas' copy, so partitions travel between processes as they are.
`dashtam_nb.dask` is the public face.
"""

__all__: list[str] = []
