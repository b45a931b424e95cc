"""The deterministic, offline finance data set (``from dashtam_nb import sample_data``).

`seeding` loads it (`seed`), `generator` draws it column-wise in NumPy, `catalog` holds
its fixed vocabulary (merchants, categories, currencies) and `audit` derives
the audit-log rows.
"""

from dashtam_nb.sample_data.seeding import (
    MODELS,
    SIZES,
    TABLES,
    aseed,
    checksum,
    frames,
    generate,
    seed,
    tables,
    transaction_count,
)

__all__ = [
    "MODELS",
    "SIZES",
    "TABLES",
    "aseed",
    "checksum",
    "frames",
    "generate",
    "seed",
    "tables",
    "transaction_count",
]
