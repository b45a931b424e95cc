"""A deterministic, offline finance data set: users, accounts, transactions.

Tutorials need a few dozen users they can read; benchmarks need millions of
transactions that load in seconds. Both come from one vectorised generator
(`sample_generator`), so the same ``(size, seed)`` always gives identical
data (`checksum`) and a notebook's output never changes between runs.

Loading goes through binary COPY (`bulk.copy_arrow`) in one transaction, with
a progress bar that only appears in a terminal or notebook. The audit table
is append-only (a trigger refuses TRUNCATE, UPDATE and DELETE), so a clean
slate means a new database: ``seed(db, fresh=True)`` drops and recreates it.
"""

from __future__ import annotations

import functools
import hashlib
import math
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dashtam_nb import runner
from dashtam_nb.checks import check_bool
from dashtam_nb.errors import DuplicateError, ValidationError, echo
from dashtam_nb.models import AccountModel, AuditLogModel, TransactionModel, UserModel
from dashtam_nb.progress import progress_bar
from dashtam_nb.sample_data import generator as gen
from dashtam_nb.sample_data.audit import audit

if TYPE_CHECKING:
    import pandas as pd

    from dashtam_nb.database import Database

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

SIZES = {"small": 1_500, "large": 1_000_000}
"""Named sizes, in transactions (users and accounts scale with them)."""
MAX_TRANSACTIONS = 50_000_000
"""The largest data set generated (it is built in memory first: ~10 GB)."""
MODELS = {
    "users": UserModel,
    "accounts": AccountModel,
    "transactions": TransactionModel,
    "audit_logs": AuditLogModel,
}
"""Table name -> model, in load order (foreign keys point backwards)."""
TABLES = tuple(MODELS)


def transaction_count(size: str | int) -> int:
    """Transactions for a size name (``small``, ``large``) or a number."""
    if isinstance(size, str) and size.strip().isdigit():
        size = int(size)
    if isinstance(size, bool) or not isinstance(size, int | str):
        raise ValidationError("size must be 'small', 'large' or a number", field="size")
    if isinstance(size, str):
        if size not in SIZES:
            raise ValidationError(
                f"unknown size {echo(size, 20)}: use 'small', 'large' or a number",
                field="size",
            )
        return SIZES[size]
    if size < 0:
        raise ValidationError("size must be >= 0", field="size")
    if size > MAX_TRANSACTIONS:
        # Generated in memory before any row is sent: refuse what cannot fit.
        raise ValidationError(
            f"size must be <= {MAX_TRANSACTIONS:,} transactions", field="size"
        )
    return size


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError("seed must be an integer >= 0", field="seed")
    return seed


def _check_count(n: object) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise ValidationError(
            "n_transactions must be an integer >= 0", field="n_transactions"
        )
    return n


def generate(n_transactions: int, seed: int) -> dict[str, pa.Table]:
    """The four tables for ``n_transactions`` transactions (columns by name).

    Users grow with the square root of the transactions: a few dozen for the
    tutorial size, about a thousand (~500 transactions each over two years)
    for a million. Account balances are the sum of their live transactions
    (as when the owner left, for a deleted user). A deleted user's accounts
    and live transactions are soft-deleted with it (the cascade policy of
    `dashtam_nb.softdelete`); every row starts at ``version`` 1.
    """
    n_transactions = transaction_count(_check_count(n_transactions))
    draws = gen.Draws(_check_seed(seed))
    users = gen.users(draws, max(24, math.isqrt(n_transactions)), seed)
    accounts, acc = gen.accounts(draws, users, seed)
    tx, owned, deleted = gen.transactions(draws, accounts, acc, n_transactions, seed)
    live = ~deleted
    moved = np.bincount(
        owned.owner[live], weights=owned.cents[live], minlength=len(acc.owner)
    )
    created = pa.array(acc.created, gen.TS)
    accounts |= {
        "balance": gen.money(acc.cents + np.rint(moved).astype(np.int64)),
        "created_at": created,
        "updated_at": created,
    }
    gen.settle_deleted_users(users, acc, owned)
    trail = audit(draws, users, accounts, acc, tx, owned, seed)
    gen.cascade_deleted_users(users, accounts, acc, tx, owned)
    for columns in (users, accounts, tx):
        columns["version"] = gen.versions(len(columns["id"]))
    return {
        "users": pa.table(users),
        "accounts": pa.table(accounts),
        "transactions": pa.table(tx),
        "audit_logs": pa.table(trail),
    }


@functools.lru_cache(maxsize=2)
def _cached(n: int, seed: int) -> dict[str, pa.Table]:
    # Arrow tables are immutable, so sharing them between callers is safe;
    # benchmarks and tests ask for the same size several times.
    data = generate(n, seed)
    ordered = {}
    for name, model in MODELS.items():
        columns = [c.key for c in model.__table__.columns]
        ordered[name] = data[name].select(columns)
    return ordered


def tables(size: str | int = "small", seed: int = 42) -> dict[str, pa.Table]:
    """The data set as Arrow tables, columns in each table's order.

    Types follow the frames contract: uuid and JSON as text, timestamps as
    ``timestamp[us, tz=UTC]``, money as ``decimal128(14, 2)``.
    """
    return dict(_cached(transaction_count(size), _check_seed(seed)))


def frames(size: str | int = "small", seed: int = 42) -> dict[str, pd.DataFrame]:
    """The data set as DataFrames with the frames dtype contract, no database."""
    import pandas as pd

    return {
        name: table.to_pandas(types_mapper=pd.ArrowDtype)
        for name, table in tables(size, seed).items()
    }


def _digest_column(h: hashlib._Hash, column: pa.ChunkedArray) -> None:
    arr = column.combine_chunks()
    h.update(f"{arr.type}|{len(arr)}".encode())
    h.update(np.asarray(arr.is_valid().to_numpy(zero_copy_only=False)).tobytes())
    # Values in a canonical form (never raw Arrow buffers, whose padding and
    # offsets depend on how an array was built): timestamps as int64 µs,
    # booleans as bytes, everything else as text.
    if pa.types.is_timestamp(arr.type):
        h.update(arr.cast(pa.int64()).fill_null(0).to_numpy().tobytes())
        return
    if pa.types.is_boolean(arr.type):
        h.update(arr.fill_null(False).to_numpy(zero_copy_only=False).tobytes())
        return
    text = pc.cast(arr, pa.string()).fill_null("").cast(pa.large_binary())
    offsets = np.frombuffer(text.buffers()[1], np.int64)[: len(arr) + 1]
    h.update(np.diff(offsets).tobytes())
    data = text.buffers()[2]
    if data is not None:
        h.update(memoryview(data)[int(offsets[0]) : int(offsets[-1])])


def checksum(size: str | int = "small", seed: int = 42) -> str:
    """SHA-256 over every generated row: same size and seed, same digest."""
    h = hashlib.sha256()
    for name, table in tables(size, seed).items():
        h.update(name.encode())
        for col_name, column in zip(table.column_names, table.columns, strict=True):
            h.update(col_name.encode())
            _digest_column(h, column)
    return h.hexdigest()


async def _load(db: Database, data: dict[str, pa.Table]) -> dict[str, int]:
    from dashtam_nb.io import load as bulk

    total = sum(t.num_rows for t in data.values())
    bar = progress_bar(total, "sample data")
    counts: dict[str, int] = {}
    try:
        async with db.get_session() as session:
            for name, table in data.items():
                counts[name] = await bulk.copy_arrow(
                    session, MODELS[name], table, on_rows=bar.update
                )
    finally:
        bar.close()
    # Fresh statistics, so planner estimates (progress totals, the fast-path
    # choice, estimated page totals) are right straight after a load.
    tables = ", ".join(MODELS[name].__tablename__ for name in data)
    await db.aexecute(f"ANALYZE {tables}")
    return counts


async def _recreate(db: Database) -> None:
    """Drop and recreate ``db``'s database, then migrate it to head."""
    from dashtam_nb import admin as admin_
    from dashtam_nb.database import Database as Db

    name = db.url.database
    if not name or name in {"postgres", "template0", "template1"}:
        raise ValidationError(
            "fresh=True needs a database of its own: dn.connect('name', fresh=True)",
            field="fresh",
        )
    admin = Db(db.url.set(database="postgres"))
    await runner.arun(admin_.recreate(admin, name, True), target=admin.target)
    from dashtam_nb import migrations

    await migrations.aupgrade("head", db=db)


async def aseed(
    db: Database, size: str | int = "small", seed: int = 42, *, fresh: bool = False
) -> dict[str, int]:
    """Load the data set into ``db`` in one transaction; returns rows per table.

    Args:
        db: the database; its schema must exist unless ``fresh``.
        size: ``"small"`` (~40 users, 1,500 transactions), ``"large"``
            (1,000,000 transactions) or a number of transactions.
        seed: the generator seed; the same seed gives the same rows.
        fresh: drop and recreate the database first (not a TRUNCATE: the
            audit log refuses that by design).

    Raises:
        DuplicateError: the data set (same seed) is already loaded.
    """
    from dashtam_nb.database import check_database

    check_database(db)
    check_bool(fresh, "fresh")
    data = tables(size, seed)
    if fresh:
        await _recreate(db)
    try:
        return await runner.arun(_load(db, data))
    except DuplicateError:
        raise DuplicateError(
            f"this sample data set (size={size!r}, seed={seed}) is already loaded; "
            "use fresh=True (a new database) or another seed"
        ) from None


seed = runner.blocking(aseed)
