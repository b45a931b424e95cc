"""Keyset vs OFFSET pages at depth, and the cost of exact vs estimated totals.

N users (1,000,000; ``--quick``: 100,000) are loaded in one INSERT ... SELECT
generate_series into a fresh ``bench_pagination`` database migrated to head,
then VACUUM ANALYZE. "Depth" is the last page: page 50,000 of 20 rows at
1,000,000 users (5,000 in quick mode). Every call goes through
`UserRepository`, with the live-rows criterion and entity mapping, on the
owner loop (no hop in the timing); each method's median is reported.
"""

from __future__ import annotations

import statistics
import time
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, text

import dashtam_nb as dn
from benchmarks.registry import Measurement, case
from dashtam_nb import migrations
from dashtam_nb.models import UserModel
from dashtam_nb.pagination import count_total, encode_cursor
from dashtam_nb.repositories import UserRepository

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

DB_NAME = "bench_pagination"
PAGE_SIZE = 20


async def _load(db: dn.Database, n: int) -> None:
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(
            text(
                "INSERT INTO users (id, email, password_hash, created_at, updated_at)"
                " SELECT uuidv7(), 'user' || g || '@example.com',"
                " '$argon2id$v=19$m=65536,t=3,p=4$' || md5(g::text) || md5(g::text),"
                " now() - make_interval(secs => :n - g), now()"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": n},
        )
        await conn.execute(text("VACUUM ANALYZE users"))


async def _medians(
    fns: dict[str, Callable[[], Awaitable[Any]]], n: int, warmup: int
) -> dict[str, float]:
    """Median of each, calls interleaved so drift on a busy machine hits all."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for i in range(warmup + n):
        for key, fn in fns.items():
            t0 = time.perf_counter()
            await fn()
            if i >= warmup:
                times[key].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


async def _measure(db: dn.Database, n_users: int, quick: bool) -> dict[str, Any]:
    depth = n_users // PAGE_SIZE  # the last page
    fast, slow = (200, 5) if quick else (500, 5)
    async with db.get_session() as s:
        repo = UserRepository(s)
        # The cursor a reader holds after page depth - 1: the last row before.
        row = (
            await s.execute(
                select(UserModel.created_at, UserModel.id)
                .order_by(UserModel.created_at, UserModel.id)
                .offset((depth - 1) * PAGE_SIZE - 1)
                .limit(1)
            )
        ).one()
        deep_cursor = encode_cursor("users", "created_at", "next", tuple(row))
        deep = await repo.paginate_after(deep_cursor, PAGE_SIZE)
        offset_deep = await repo.paginate(depth, PAGE_SIZE, total="none")
        assert [u.id for u in deep.items] == [u.id for u in offset_deep.items]
        assert len(deep.items) == PAGE_SIZE
        assert deep.next_cursor is None
        listing = select(UserModel)
        second = (await repo.paginate_after(None, PAGE_SIZE)).next_cursor
        cheap = await _medians(
            {
                "keyset_1": lambda: repo.paginate_after(None, PAGE_SIZE),
                "keyset_2": lambda: repo.paginate_after(second, PAGE_SIZE),
                "keyset_deep": lambda: repo.paginate_after(deep_cursor, PAGE_SIZE),
                "offset_1": lambda: repo.paginate(1, PAGE_SIZE, total="none"),
                "estimate": lambda: count_total(s, listing, "estimate"),
                "page_estimate": lambda: repo.paginate(1, PAGE_SIZE, total="estimate"),
            },
            fast,
            20,
        )
        costly = await _medians(
            {
                "offset_deep": lambda: repo.paginate(depth, PAGE_SIZE, total="none"),
                "exact": lambda: count_total(s, listing, "exact"),
                "page_exact": lambda: repo.paginate(1, PAGE_SIZE, total="exact"),
            },
            slow,
            1,
        )
        return {"depth": depth, **cheap, **costly}


@case("pagination")
def pagination_depth(quick: bool = False) -> list[Measurement]:
    """Keyset stays flat with depth, OFFSET grows; exact totals cost a scan."""
    n_users = 100_000 if quick else 1_000_000
    db = dn.connect(DB_NAME, fresh=True)
    try:
        migrations.upgrade("head", db=db)
        t0 = time.perf_counter()
        dn.run(_load(db, n_users))
        load = time.perf_counter() - t0
        r = dn.run(_measure(db, n_users, quick))
    finally:
        dn.run(db.close())
        dn.drop_database(DB_NAME)
    fast, slow = (200, 5) if quick else (500, 5)
    page = f"page {r['depth']:,} of {n_users:,} users"
    ratio = r["keyset_deep"] / r["keyset_1"]
    return [
        Measurement(f"keyset page 1 ({n_users:,} users)", r["keyset_1"], fast),
        Measurement(
            "keyset page 2 (same work as any later page)",
            r["keyset_2"],
            fast,
            "page 1 has no cursor to check and no prev cursor to sign",
        ),
        Measurement(
            f"keyset {page}",
            r["keyset_deep"],
            fast,
            f"{ratio:.2f}x keyset page 1 (target <= 2x),"
            f" {r['keyset_deep'] / r['keyset_2']:.2f}x page 2",
        ),
        Measurement("OFFSET page 1", r["offset_1"], fast),
        Measurement(
            f"OFFSET {page}",
            r["offset_deep"],
            slow,
            f"{r['offset_deep'] / r['keyset_deep']:.0f}x keyset at the same depth",
        ),
        Measurement("total: planner estimate (EXPLAIN)", r["estimate"], fast),
        Measurement(
            "total: exact COUNT(*)",
            r["exact"],
            slow,
            f"{r['exact'] / r['estimate']:.0f}x the estimate",
        ),
        Measurement("OFFSET page 1 + estimated total", r["page_estimate"], fast),
        Measurement(
            "OFFSET page 1 + exact total",
            r["page_exact"],
            slow,
            f"load of {n_users:,} users: {load:.1f} s",
        ),
    ]
