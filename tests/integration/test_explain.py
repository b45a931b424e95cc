"""The default reads use the live-row partial indexes (issue 5, part 5).

The SQL under test is the SQL the package really sends: each read runs
through `UserRepository` while ``before_cursor_execute`` records statement and
parameters, and that exact text is then EXPLAINed with the same parameters.
No planner switch (``enable_seqscan`` and the like) is touched for our own
plans; the contrast cases show why the criterion is written ``= false``.

Data: 20,000 users in creation order (uuidv7 ids, ascending ``created_at``),
a fifth of them soft-deleted, then VACUUM ANALYZE, as after any bulk load.
The deleted fifth matters for the COUNT only: an unfiltered ``count(*)`` can
use an index-only scan of the partial index instead of reading the heap, and
PostgreSQL prefers it once the index is clearly smaller than the table. With
no deleted rows at all both plans cost within about 1% here, and a
sequential scan is then the right answer, not a lost index.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import event, text

import dashtam_nb as dn
from dashtam_nb import migrations
from dashtam_nb.repositories import UserRepository

pytestmark = pytest.mark.integration

N_USERS = 20_000
PAGE_INDEX = "ix_users_created_at_id_live"
EMAIL_INDEX = "uq_users_email_lower_live"
LIVE_INDEXES = {PAGE_INDEX, EMAIL_INDEX}


async def _load(db: dn.Database) -> None:
    async with db.engine.connect() as conn:
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        await conn.execute(
            text(
                "INSERT INTO users (id, email, password_hash, created_at,"
                " updated_at, is_deleted, deleted_at)"
                " SELECT uuidv7(), 'user' || g || '@example.com',"
                " '$argon2id$v=19$m=65536,t=3,p=4$' || md5(g::text) || md5(g::text),"
                " now() - make_interval(secs => :n - g), now(),"
                " g % 5 = 0, CASE WHEN g % 5 = 0 THEN now() END"
                " FROM generate_series(1, :n) AS g"
            ),
            {"n": N_USERS},
        )
        await conn.execute(text("VACUUM ANALYZE users"))


@pytest.fixture(scope="module")
def big_db(server_url: object) -> Iterator[dn.Database]:
    """One migrated database with 20,000 users, shared by this module."""
    name = f"t_explain_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    db = dn.connect(name, fresh=True)
    migrations.upgrade("head", db=db)
    dn.run(_load(db))
    yield db
    dn.run(db.close())
    dn.drop_database(name)
    dn.set_database(None)


async def _engine(db: dn.Database) -> Any:
    return db.engine.sync_engine


@pytest.fixture(scope="module")
def sent(big_db: dn.Database) -> dict[str, tuple[str, dict[str, Any]]]:
    """The SQL of each default read, as sent, with its parameters."""
    log: list[tuple[str, dict[str, Any]]] = []

    def record(_c: Any, _cur: Any, stmt: str, params: Any, *_rest: Any) -> None:
        log.append((stmt, dict(params or {})))

    async def reads() -> None:
        async with big_db.get_session() as s:
            repo = UserRepository(s)
            first = await repo.paginate_after(page_size=20)
            mark = len(log)
            await repo.paginate_after(first.next_cursor, 20)
            marks["keyset"] = mark
            marks["page"] = len(log)
            await repo.paginate(3, 20)  # the page, then its exact COUNT
            marks["count"] = len(log)
            await repo.count()
            marks["email"] = len(log)
            assert await repo.find_by_email("USER7@example.com") is not None

    marks: dict[str, int] = {}
    engine = dn.run(_engine(big_db))
    event.listen(engine, "before_cursor_execute", record)
    try:
        dn.run(reads())
    finally:
        event.remove(engine, "before_cursor_execute", record)
    selects = {
        k: [q for q in log[i:] if q[0].startswith("SELECT")] for k, i in marks.items()
    }
    return {
        "keyset": selects["keyset"][0],
        "page": selects["page"][0],
        "page_count": selects["page"][1],
        "count": selects["count"][0],
        "email": selects["email"][0],
    }


def _plan(db: dn.Database, sql: str, params: dict[str, Any]) -> dict[str, Any]:
    async def explain() -> Any:
        async with db.engine.connect() as conn:
            result = await conn.exec_driver_sql("EXPLAIN (FORMAT JSON) " + sql, params)
            return result.scalar()

    plan: Any = dn.run(explain())
    top: dict[str, Any] = plan[0]["Plan"]
    return top


def _scans(node: dict[str, Any]) -> list[tuple[str, str | None]]:
    found = [(node["Node Type"], node.get("Index Name"))]
    for child in node.get("Plans", []):
        found += _scans(child)
    return found


def _indexes(node: dict[str, Any]) -> set[str]:
    return {name for _, name in _scans(node) if name}


# -- the criterion as rendered ---------------------------------------------------


def test_every_default_read_renders_the_criterion_as_equals_false(sent) -> None:
    for name, (sql, params) in sent.items():
        assert "users.is_deleted = false" in sql, name
        assert not re.search(r"is_deleted IS", sql, re.IGNORECASE), name
        # A bound parameter would hide the value from a generic plan.
        assert not any(isinstance(v, bool) for v in params.values()), name


# -- our plans use the partial indexes --------------------------------------------


def test_offset_page_is_an_index_scan_of_the_live_index(big_db, sent) -> None:
    plan = _plan(big_db, *sent["page"])
    assert ("Index Scan", PAGE_INDEX) in _scans(plan)
    assert "Sort" not in {kind for kind, _ in _scans(plan)}  # order from the index


def test_keyset_page_seeks_in_the_live_index(big_db, sent) -> None:
    sql, params = sent["keyset"]
    assert "(users.created_at, users.id) >" in sql
    plan = _plan(big_db, sql, params)
    scan = plan["Plans"][0]
    assert (scan["Node Type"], scan["Index Name"]) == ("Index Scan", PAGE_INDEX)
    assert "created_at" in scan["Index Cond"]  # a seek, not a filter
    assert plan["Total Cost"] < 10


@pytest.mark.parametrize("read", ["count", "page_count"])
def test_counts_read_a_live_index_not_the_table(big_db, sent, read) -> None:
    plan = _plan(big_db, *sent[read])
    kinds = {kind for kind, _ in _scans(plan)}
    assert "Index Only Scan" in kinds
    assert _indexes(plan) & LIVE_INDEXES
    assert "Seq Scan" not in kinds


def test_find_by_email_uses_the_live_unique_index(big_db, sent) -> None:
    plan = _plan(big_db, *sent["email"])
    assert _indexes(plan) == {EMAIL_INDEX}


# -- why "= false": the same queries written otherwise lose the index -----------------


@pytest.mark.parametrize("read", ["page", "keyset", "count", "email"])
def test_the_same_reads_with_is_false_lose_the_partial_index(
    big_db, sent, read
) -> None:
    sql, params = sent[read]
    worse = sql.replace("users.is_deleted = false", "users.is_deleted IS false")
    assert worse != sql
    assert not _indexes(_plan(big_db, worse, params)) & LIVE_INDEXES


def _numbered(sql: str, params: dict[str, Any]) -> tuple[str, list[Any]]:
    """psycopg's %(name)s placeholders as PREPARE's $1, $2, ... (casts kept)."""
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    return re.sub(r"%\((\w+)\)s", number, sql), [params[n] for n in names]


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    assert isinstance(value, str)
    return "'" + value.replace("'", "''") + "'"


def _generic_plan(db: dn.Database, sql: str, args: list[Any]) -> dict[str, Any]:
    """EXPLAIN EXECUTE under a generic plan (what a prepared statement reuses)."""

    async def explain() -> Any:
        async with db.engine.connect() as conn:
            await conn.exec_driver_sql("SET plan_cache_mode = force_generic_plan")
            await conn.exec_driver_sql("PREPARE q AS " + sql)
            # EXPLAIN EXECUTE takes no bind parameters: inline the test's
            # own fixed values as literals.
            literals = ", ".join(_literal(a) for a in args)
            result = await conn.exec_driver_sql(
                f"EXPLAIN (FORMAT JSON) EXECUTE q({literals})"
            )
            plan = result.scalar()
            await conn.exec_driver_sql("DEALLOCATE q")
            await conn.rollback()
            return plan

    plan: Any = dn.run(explain())
    top: dict[str, Any] = plan[0]["Plan"]
    return top


def test_generic_plans_keep_the_index_only_with_a_literal_false(big_db, sent) -> None:
    sql, args = _numbered(*sent["email"])
    assert _indexes(_generic_plan(big_db, sql, args)) == {EMAIL_INDEX}
    # The criterion as a bound parameter: the generic plan cannot prove the
    # partial index's predicate, so it scans the table.
    bound = sql.replace(
        "users.is_deleted = false", f"users.is_deleted = ${len(args) + 1}::BOOLEAN"
    )
    plan = _generic_plan(big_db, bound, [*args, False])
    assert not _indexes(plan) & LIVE_INDEXES
