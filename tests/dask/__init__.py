"""dn.dask on a real distributed.LocalCluster against real PostgreSQL."""
