"""Runner overhead and embedded-server start-up."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

import dashtam_nb as dn
from benchmarks.registry import Measurement, case, median_of
from dashtam_nb import server

SERVER_SNIPPET = (
    "import time, pathlib, sys;"
    "from dashtam_nb.server import ensure_server;"
    "t=time.perf_counter(); ensure_server(pathlib.Path(sys.argv[1]));"
    "print(time.perf_counter()-t)"
)


@case("runner")
def runner_overhead(quick: bool = False) -> list[Measurement]:
    """`SELECT 1`: sync bridge and await hop vs a direct await on the owner loop."""
    n = 300 if quick else 2000
    db = dn.connect("bench_runner", fresh=True)
    stmt = text("SELECT 1")

    async def direct_loop() -> float:
        engine = db.engine  # on the owner loop: allowed

        async def once() -> None:
            async with engine.connect() as conn:
                await conn.execute(stmt)

        for _ in range(50):
            await once()
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await once()
            times.append(time.perf_counter() - t0)
        times.sort()
        return times[len(times) // 2]

    async def via_engine() -> None:
        async with db.engine.connect() as conn:
            await conn.execute(stmt)

    direct = dn.run(direct_loop())
    sync = median_of(lambda: dn.run(via_engine()), n)

    async def hop_loop() -> float:
        for _ in range(50):
            await dn.arun(via_engine())
        times = []
        for _ in range(n):
            t0 = time.perf_counter()
            await dn.arun(via_engine())
            times.append(time.perf_counter() - t0)
        times.sort()
        return times[len(times) // 2]

    hop = asyncio.run(hop_loop())
    dn.run(db.close())
    dn.drop_database("bench_runner")
    return [
        Measurement("direct await on the owner loop (floor)", direct, n),
        Measurement(
            "sync dn.run() bridge from a plain thread",
            sync,
            n,
            f"+{(sync - direct) * 1e3:.3f} ms per call (target <= 0.3 ms)",
        ),
        Measurement(
            "await hop from another loop (asyncio.run)",
            hop,
            n,
            f"+{(hop - direct) * 1e3:.3f} ms per call",
        ),
    ]


@case("server")
def server_startup(quick: bool = False) -> list[Measurement]:
    """Cold start (initdb + start) and warm reuse of the embedded server."""
    with tempfile.TemporaryDirectory(prefix="dnb-bench-") as tmp:
        cmd = [sys.executable, "-c", SERVER_SNIPPET, tmp]
        cold = float(subprocess.run(cmd, capture_output=True, text=True).stdout)
        server.ensure_server(Path(tmp))  # keep it up
        warm = float(subprocess.run(cmd, capture_output=True, text=True).stdout)
        server.stop(Path(tmp))
    return [
        Measurement("warm reuse (server already running)", warm, 1, "target < 0.5 s"),
        Measurement("cold start (initdb + start)", cold, 1, "target < 5 s"),
    ]
