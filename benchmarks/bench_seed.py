"""The sample data set: generation, and loading the small and 1M sizes."""

from __future__ import annotations

import uuid

import dashtam_nb as dn
from benchmarks.frames_data import SEED, compare
from benchmarks.registry import Measurement, case
from dashtam_nb import migrations, sample_data
from dashtam_nb.io import adbc as adbc_pool


@case("seed")
def seed(quick: bool = False) -> list[Measurement]:
    """The sample data set: generation, and loading small and 1M sizes."""
    rows: list[Measurement] = []
    name = f"bench_seed_{uuid.uuid4().hex[:8]}"
    db = dn.connect(name, fresh=True)
    dn.set_database(None)
    migrations.upgrade("head", db=db)

    def empty() -> None:
        dn.connect(name, fresh=True)
        dn.set_database(None)
        migrations.upgrade("head", db=db)

    small = [("small", lambda: sample_data.seed(db, "small"))]
    _, seconds, samples = compare(small, 5, setup=empty)[0]
    rows.append(
        Measurement(
            "seed('small'): 1,500 transactions", seconds, samples, "target < 1 s"
        )
    )
    sizes = [100_000] if quick else [1_000_000]
    for n in sizes:

        def generate(n: int = n) -> None:
            sample_data.seeding._cached.cache_clear()
            sample_data.tables(n, SEED)

        _, seconds, samples = compare([("generate", generate)], 3)[0]
        rows.append(Measurement(f"generate only (NumPy) [{n:,}]", seconds, samples))
        empty()
        _, seconds, samples = compare(
            [("seed", lambda n=n: sample_data.seed(db, n))], 1
        )[0]
        rows.append(
            Measurement(
                f"seed({n:,}) into the migrated schema",
                seconds,
                samples,
                "server-side index maintenance dominates (see note)",
            )
        )
    adbc_pool.close_all()
    dn.run(db.close())
    dn.drop_database(name)
    return rows
