"""The data every frames benchmark shares, and how they are timed.

One database per size, seeded by `sample_data` (2M transactions, or 200k with
``--quick``) on first use and reused while its checksum matches, so repeated
runs skip the ~30 s seeding. Server settings are the embedded defaults
(shared_buffers 128 MB).
"""

from __future__ import annotations

import contextlib
import statistics
import time
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

import dashtam_nb as dn
from dashtam_nb import sample_data

if TYPE_CHECKING:
    from collections.abc import Callable

    from benchmarks.registry import Measurement

SEED = 42


def dataset(quick: bool) -> tuple[dn.Database, int]:
    """The shared benchmark database, seeded once and reused."""
    n = 200_000 if quick else 2_000_000
    name = f"bench_frames_{n}"
    digest = sample_data.checksum(n, SEED)
    db = dn.connect(name)
    dn.set_database(None)
    stored = None
    with contextlib.suppress(dn.DashtamError):  # missing table: seed below
        stored = db.scalar("SELECT checksum FROM bench_meta")
    if stored != digest:
        t0 = time.perf_counter()
        sample_data.seed(db, n, SEED, fresh=True)
        db.execute("CREATE TABLE bench_meta (checksum text)")
        db.execute("INSERT INTO bench_meta VALUES (:c)", {"c": digest})
        print(f"  seeded {n:,} transactions in {time.perf_counter() - t0:.1f} s")
    return db, n


def compare(
    methods: list[tuple[str, Callable[[], object]]],
    repeats: int,
    *,
    setup: Callable[[], object] | None = None,
    slow: float = 8.0,
) -> list[tuple[str, float, int]]:
    """Median seconds per method, runs interleaved round-robin.

    Interleaving spreads background load (this machine is shared) over all
    methods alike; a method whose run exceeds ``slow`` seconds runs once.
    """
    times: dict[str, list[float]] = {label: [] for label, _ in methods}
    for _ in range(repeats):
        for label, fn in methods:
            if times[label] and times[label][-1] > slow:
                continue
            if setup is not None:
                setup()
            t0 = time.perf_counter()
            fn()
            times[label].append(time.perf_counter() - t0)
    return [(k, statistics.median(v), len(v)) for k, v in times.items()]


def uri(db: dn.Database) -> str:
    url = db.url
    host = url.query.get("host")
    return f"postgresql://{url.username}@/{url.database}?host={host}"


def sync_engine(db: dn.Database) -> sa.Engine:
    return sa.create_engine(db.url, poolclass=sa.NullPool)


def in_session(db: dn.Database, work: Callable[[Any], Any]) -> Any:
    async def run() -> Any:
        async with db.get_session() as session:
            return await work(session)

    return dn.run(run())


def note_ratios(rows: list[Measurement], kind: str) -> None:
    """Per size: ours against the reference and the target's comparison."""
    by_size: dict[str, dict[str, Measurement]] = {}
    for m in rows:
        label, _, size = m.method.rpartition(" [")
        by_size.setdefault(size, {})[label] = m
    for size, found in by_size.items():
        ours = next(m for k, m in found.items() if k.startswith("ours"))
        ref = next(m for k, m in found.items() if "(reference)" in k)
        note = f"{ours.seconds / ref.seconds:.2f}x the reference"
        if kind == "load":
            slow = found["pandas.read_sql (sync SQLAlchemy engine)"]
            note += f"; read_sql is {slow.seconds / ours.seconds:.1f}x slower"
            if size == "1,000,000]":
                note += " (targets: <= 1.5x ADBC, >= 5x faster than read_sql)"
        elif size == "1,000,000]":
            note += " (target <= 1.3x raw COPY)"
        ours.note = note
    guide = by_size.get("100,000]", {}).get("guide: ORM -> to_entity -> to_frame")
    if kind == "load" and guide is not None:
        ours = by_size["100,000]"]["ours: columnar.fetch_frame"]
        guide.note = (
            f"{guide.seconds / ours.seconds:.0f}x slower than ours; not run at 1M "
            f"(~{guide.seconds * 10:.0f} s per run, ORM objects for every row)"
        )
