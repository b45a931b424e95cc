"""One front-door method in a fresh process: warm up, time one read, peak RSS.

``python -m benchmarks.front_door_probe METHOD DATABASE ROWS`` prints one line,
`MARK` then JSON: ``{"seconds": s, "peak_mb": m}``, or ``{"na": reason}`` when
the method cannot run (not installed, refused, cannot connect, wrong row
count); peers may print other lines. A process per run keeps each method's
memory its own: the warm-up (a 1,000-row version of the query) pays for
imports, connection and caches, then the kernel's RSS high-water mark is
reset (``/proc/self/clear_refs``; elsewhere a 2 ms psutil sampler) just
before the timed read.
"""

from __future__ import annotations

import gc
import importlib
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import dashtam_nb as dn

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import URL

MARK = "front_door_probe: "
"""Starts the one stdout line the parent reads."""
COLUMNS = 7
CHUNK = 100_000
WARM_ROWS = 1_000
SELECT = (
    "SELECT id, seq, amount, posted_at, category, description, is_debit FROM {table}"
)


def table_name(rows: int) -> str:
    return f"front_door_{rows}"


def libpq(url: URL) -> str:
    """The conninfo URI for ADBC and polars (and psycopg); never printed."""
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def scrub(text: str) -> str:
    """One short line with any URL or password removed."""
    line = (text.strip().splitlines() or ["no message"])[0]
    line = re.sub(r"[\w+.-]+://\S+", "<url>", line)
    line = re.sub(r"password\s*=\s*\S+", "password=<hidden>", line, flags=re.I)
    return line[:140]


def _connectorx_uri(url: URL) -> str:
    """ConnectorX refuses ``?host=/dir`` ("empty host"): the socket
    directory goes percent-encoded where the host name would be."""
    socket_dir = url.query.get("host")
    if url.host or not isinstance(socket_dir, str):
        return libpq(url)
    user = quote(url.username or "", safe="")
    if url.password is not None:
        user += ":" + quote(str(url.password), safe="")
    port = f":{url.port}" if url.port else ""
    return f"postgresql://{user}@{quote(socket_dir, safe='')}{port}/{url.database}"


def _urls(database: str) -> tuple[URL, str]:
    dn.settings.reload()
    url = dn.settings.database_url.set(database=database)
    return url, libpq(url)


def _open_adbc(database: str, how: str) -> Callable[[str], Any]:
    import adbc_driver_postgresql.dbapi as adbc
    import pandas as pd

    conn = adbc.connect(_urls(database)[1])

    def run(sql: str) -> Any:
        with conn.cursor() as cur:
            cur.execute(sql)
            if how == "batches":
                rows = sum(batch.num_rows for batch in cur.fetch_record_batch())
                return (rows, len(cur.description or ()))
            table = cur.fetch_arrow_table()
            return (
                table if how == "arrow" else table.to_pandas(types_mapper=pd.ArrowDtype)
            )

    return run


def _shell(extension: str) -> Any:
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    config = Config()
    config.HistoryManager.enabled = False
    shell = InteractiveShell.instance(config=config)
    shell.run_line_magic("load_ext", extension)
    return shell


def _open_ours(database: str, how: str) -> Callable[[str], Any]:
    db = dn.Database(_urls(database)[0])
    if how == "frame":
        return db.frame
    if how == "stream":
        # Any: SQL text is what this row measures, typed or not yet.
        stream_frames: Any = dn.stream_frames

        def stream(sql: str) -> tuple[int, int]:
            rows = cols = 0
            for frame in stream_frames(db, sql, chunk_rows=CHUNK, progress=False):
                rows, cols = rows + len(frame), frame.shape[1]
            return rows, cols

        return stream
    dn.set_database(db)
    shell = _shell("dashtam_nb")
    return lambda sql: shell.run_line_magic("sql", sql)


def _open_peer(database: str, how: str) -> Callable[[str], Any]:
    url, conninfo = _urls(database)
    if how == "connectorx":
        cx = importlib.import_module("connectorx")  # optional: the bench extra
        where = _connectorx_uri(url)
        return lambda sql: cx.read_sql(where, sql, return_type="pandas")
    if how == "polars":
        import polars as pl

        return lambda sql: pl.read_database_uri(sql, conninfo, engine="adbc").to_pandas(
            use_pyarrow_extension_array=True
        )
    import pandas as pd
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    if how == "read_sql":
        return lambda sql: pd.read_sql(sa.text(sql), engine)
    importlib.import_module("sql")  # JupySQL; ImportError: not installed

    shell = _shell("sql")
    shell.run_line_magic("config", "SqlMagic.autopandas = True")
    shell.run_line_magic("config", "SqlMagic.displaycon = False")
    shell.user_ns["bench_engine"] = engine
    shell.run_line_magic("sql", "bench_engine")
    return lambda sql: shell.run_line_magic("sql", sql)


OPENERS: dict[str, tuple[Callable[[str, str], Callable[[str], Any]], str]] = {
    "adbc_pandas": (_open_adbc, "pandas"),
    "adbc_arrow": (_open_adbc, "arrow"),
    "adbc_batches": (_open_adbc, "batches"),
    "frame": (_open_ours, "frame"),
    "magic": (_open_ours, "magic"),
    "stream": (_open_ours, "stream"),
    "jupysql": (_open_peer, "jupysql"),
    "read_sql": (_open_peer, "read_sql"),
    "connectorx": (_open_peer, "connectorx"),
    "polars": (_open_peer, "polars"),
}


def _status_kb(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    found = re.search(rf"^{field}:\s+(\d+) kB", text, re.M)
    assert found is not None
    return int(found.group(1))


class _Peak:
    """Peak RSS growth over a block: the kernel's high-water mark, reset first."""

    def __init__(self) -> None:
        self._done = False
        try:
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
            self._base, self._exact = _status_kb("VmRSS") * 1024, True
        except OSError:  # not Linux, or not allowed: sample every 2 ms
            import psutil

            self._proc, self._exact = psutil.Process(), False
            self._base = self._peak = self._proc.memory_info().rss
            threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self) -> None:
        while not self._done:
            self._peak = max(self._peak, self._proc.memory_info().rss)
            time.sleep(0.002)

    def growth_mb(self) -> float:
        self._done = True
        peak = _status_kb("VmHWM") * 1024 if self._exact else self._peak
        return (peak - self._base) / 2**20


def child(key: str, database: str, rows: int) -> dict[str, Any]:
    """Warm up, then time one full read of the plain table and measure it."""
    opener, how = OPENERS[key]
    sql = SELECT.format(table=table_name(rows))
    try:
        run = opener(database, how)
        run(f"{sql} LIMIT {WARM_ROWS}")
        gc.collect()
        peak = _Peak()
        t0 = time.perf_counter()
        value = run(sql)
        seconds = time.perf_counter() - t0
        grown = peak.growth_mb()
    except ImportError as exc:
        package = {"sql": "jupysql"}.get(exc.name or "", exc.name or str(exc))
        return {"na": f"{package} not installed: pip install -e '.[bench]'"}
    except dn.DashtamError as exc:
        return {"na": f"refused: {scrub(str(exc))}"}
    except Exception as exc:
        return {"na": f"{type(exc).__name__}: {scrub(str(exc))}"}
    shape = tuple(value) if isinstance(value, tuple) else tuple(value.shape)
    if shape != (rows, COLUMNS):
        return {"na": f"returned shape {shape}, expected {(rows, COLUMNS)}"}
    return {"seconds": seconds, "peak_mb": grown}


if __name__ == "__main__":
    outcome = child(sys.argv[1], sys.argv[2], int(sys.argv[3]))
    print(MARK + json.dumps(outcome), flush=True)
