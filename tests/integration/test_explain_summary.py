"""`explain.plan_summary`: a plan's stable facts as a DataFrame (notebook 05).

A notebook may show only what is identical on every run, so the summary must
carry node types, tables, indexes and actual row counts, and never a cost or a
timing. EXPLAIN ANALYZE executes its statement: the summary must roll it back.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

import dashtam_nb as dn
from dashtam_nb.explain import aplan_summary, plan_nodes, plan_summary
from dashtam_nb.models import UserModel

pytestmark = pytest.mark.integration

PAGE_INDEX = "ix_users_created_at_id_live"
PAGE_SQL = (
    "SELECT * FROM users WHERE is_deleted = false"
    " ORDER BY created_at, id LIMIT :size OFFSET :skip"
)


@pytest.fixture
def users_db(schema_db: dn.Database) -> dn.Database:
    """2,000 live users and 10 soft-deleted ones, with fresh statistics."""
    schema_db.execute(
        "INSERT INTO users (id, email, password_hash, is_deleted, deleted_at)"
        " SELECT uuidv7(), 'u' || g || '@example.com', 'h',"
        " g > 2000, CASE WHEN g > 2000 THEN now() END"
        " FROM generate_series(1, 2010) AS g"
    )
    schema_db.execute("ANALYZE users")
    return schema_db


def test_plan_nodes_flattens_a_json_plan_depth_first() -> None:
    plan: dict[str, Any] = {
        "Node Type": "Limit",
        "Total Cost": 1.5,
        "Actual Rows": 20.0,
        "Actual Loops": 1,
        "Plans": [
            {
                "Node Type": "Index Scan",
                "Relation Name": "users",
                "Index Name": "ix",
                "Actual Rows": 10.5,  # PostgreSQL 18: per loop, fractional
                "Actual Loops": 2,
                "Rows Removed by Filter": 3,
                "Plans": [{"Node Type": "Result", "Actual Rows": 1, "Actual Loops": 1}],
            },
            {"Node Type": "Seq Scan", "Relation Name": "accounts"},
        ],
    }
    assert list(plan_nodes(plan)) == [
        (0, "Limit", None, None),
        (1, "Index Scan", "users", "ix"),
        (2, "Result", None, None),
        (1, "Seq Scan", "accounts", None),
    ]
    analyzed = list(plan_nodes(plan, analyze=True))
    assert analyzed[0][4:] == (20, 0)
    assert analyzed[1][4:] == (21, 6)  # rows and removals are per loop


def test_offset_page_reads_and_discards_the_skipped_rows(users_db) -> None:
    first = plan_summary(users_db, PAGE_SQL, {"size": 20, "skip": 0}, analyze=True)
    deep = plan_summary(users_db, PAGE_SQL, {"size": 20, "skip": 1900}, analyze=True)
    columns = ["depth", "node", "relation", "index", "rows", "removed"]
    assert list(first.columns) == columns
    assert first["node"].tolist() == ["Limit", "Index Scan"]
    assert first["index"].tolist()[1] == PAGE_INDEX
    assert first["rows"].tolist() == [20, 20]
    assert deep["rows"].tolist() == [20, 1920]
    assert first["depth"].tolist() == [0, 1]


def test_columns_and_dtypes_are_fixed_and_carry_no_costs(users_db) -> None:
    plain = plan_summary(users_db, PAGE_SQL, {"size": 5, "skip": 0})
    assert list(plain.columns) == ["depth", "node", "relation", "index"]
    assert [str(t) for t in plain.dtypes] == [
        "int64[pyarrow]",
        "string[pyarrow]",
        "string[pyarrow]",
        "string[pyarrow]",
    ]
    analyzed = plan_summary(users_db, PAGE_SQL, {"size": 5, "skip": 0}, analyze=True)
    assert [str(t) for t in analyzed.dtypes][4:] == ["int64[pyarrow]"] * 2
    assert plain.equals(analyzed[list(plain.columns)])
    assert plain["relation"].isna().tolist() == [True, False]


def test_removed_counts_the_rows_a_filter_threw_away(users_db) -> None:
    found = plan_summary(
        users_db,
        "SELECT count(*) FROM users WHERE email LIKE :pattern",
        {"pattern": "%7@example.com"},
        analyze=True,
    )
    scan = found[found["relation"] == "users"].iloc[0]
    assert scan["node"] == "Seq Scan"
    # 201 of u1..u2010 end in 7; the other 1,809 are read and thrown away.
    assert (scan["rows"], scan["removed"]) == (201, 1809)


def test_a_statement_gets_the_live_rows_criterion_like_a_session(users_db) -> None:
    stmt = select(UserModel).order_by(UserModel.created_at, UserModel.id).limit(5)
    live = plan_summary(users_db, stmt)
    assert PAGE_INDEX in live["index"].dropna().tolist()
    everything = plan_summary(
        users_db, stmt.execution_options(include_deleted=True), analyze=True
    )
    assert PAGE_INDEX not in everything["index"].dropna().tolist()
    counted = plan_summary(users_db, select(UserModel.id), analyze=True)
    assert counted["rows"].iloc[0] == 2000


def test_analyze_of_a_write_is_rolled_back(users_db) -> None:
    before = users_db.scalar("SELECT count(*) FROM users")
    summary = plan_summary(
        users_db,
        "DELETE FROM users WHERE email LIKE :pattern",
        {"pattern": "%@example.com"},
        analyze=True,
    )
    assert summary["node"].iloc[0] == "ModifyTable"
    assert summary["rows"].iloc[1] == 2010  # the DELETE really ran, then rolled back
    assert users_db.scalar("SELECT count(*) FROM users") == before == 2010
    assert users_db.pool_status()["checked_out"] == 0


async def test_async_twin_from_another_loop(users_db) -> None:
    summary = await aplan_summary(users_db, PAGE_SQL, {"size": 3, "skip": 0})
    assert summary["node"].tolist() == ["Limit", "Index Scan"]


@pytest.mark.parametrize(
    ("sql", "params", "kwargs", "field"),
    [
        (PAGE_SQL, {"size": 1, "skip": 0}, {"analyze": "yes"}, "analyze"),
        (PAGE_SQL, [1, 0], {}, "params"),
        (select(UserModel), {"x": 1}, {}, "params"),
        (42, None, {}, "sql"),
    ],
)
def test_bad_arguments_are_refused(users_db, sql, params, kwargs, field) -> None:
    with pytest.raises(dn.ValidationError) as caught:
        plan_summary(users_db, sql, params, **kwargs)
    assert caught.value.field == field
    assert users_db.pool_status()["checked_out"] == 0


def test_a_bad_query_raises_a_package_error_and_leaks_nothing(users_db) -> None:
    with pytest.raises(dn.DashtamError):
        plan_summary(users_db, "SELECT * FROM no_such_table")
    assert users_db.pool_status()["checked_out"] == 0
