"""Schema browsing: db.tables() and db.describe() from the catalogue."""

from __future__ import annotations

import os
import uuid
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

import dashtam_nb as dn
from dashtam_nb import schema

if TYPE_CHECKING:
    from collections.abc import Iterator

DDL = [
    'CREATE SCHEMA "B side"',
    "CREATE TABLE parents (id int8 PRIMARY KEY, code text UNIQUE NOT NULL)",
    """CREATE TABLE children (
        id int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        parent_id int8 NOT NULL REFERENCES parents (id),
        amount numeric(14, 2) NOT NULL DEFAULT 0 CHECK (amount >= 0),
        note varchar(20),
        tags text[]
    )""",
    "CREATE INDEX children_parent_idx ON children (parent_id, amount)",
    "COMMENT ON TABLE children IS 'kids <b>& co</b>'",
    "COMMENT ON COLUMN children.amount IS 'in euros'",
    "CREATE VIEW child_view AS SELECT id, amount FROM children",
    "CREATE MATERIALIZED VIEW child_totals AS "
    "SELECT parent_id, sum(amount) FROM children GROUP BY 1",
    "CREATE TABLE events (at date NOT NULL) PARTITION BY RANGE (at)",
    "CREATE TABLE events_2020 PARTITION OF events "
    "FOR VALUES FROM ('2020-01-01') TO ('2021-01-01')",
    'CREATE TABLE "B side"."Odd Name" (x int4)',
    "CREATE SEQUENCE not_listed",
    "CREATE TYPE not_listed_either AS (a int)",
    "INSERT INTO parents SELECT g, 'p' || g FROM generate_series(1, 30) g",
]


@pytest.fixture(scope="module")
def db(server_url: object) -> Iterator[dn.Database]:
    name = f"t_{os.getpid()}_{uuid.uuid4().hex[:8]}_browse"
    database = dn.connect(name, fresh=True)
    dn.set_database(None)
    for stmt in DDL:
        database.execute(stmt)
    yield database
    dn.run(database.close())
    dn.drop_database(name)


def test_tables_lists_user_relations_with_kinds_in_byte_order(db: dn.Database) -> None:
    frame = db.tables()
    assert list(frame.columns) == ["schema", "table", "kind", "rows", "size", "comment"]
    listed = list(zip(frame["schema"], frame["table"], frame["kind"], strict=True))
    assert listed == [
        ("B side", "Odd Name", "table"),
        ("public", "child_totals", "matview"),
        ("public", "child_view", "view"),
        ("public", "children", "table"),
        ("public", "events", "partitioned"),
        ("public", "events_2020", "table"),
        ("public", "parents", "table"),
    ]
    assert frame.set_index("table").loc["children", "comment"] == "kids <b>& co</b>"
    assert str(frame["rows"].dtype) == "int64[pyarrow]"
    size: Any = frame.set_index("table").at["parents", "size"]
    assert size > 0


def test_estimated_rows_are_missing_until_analyze(db: dn.Database) -> None:
    db.execute("CREATE TABLE counted AS SELECT g FROM generate_series(1, 100) g")
    try:
        before: Any = db.tables().set_index("table").at["counted", "rows"]
        db.execute("ANALYZE counted")
        after: Any = db.tables().set_index("table").at["counted", "rows"]
    finally:
        db.execute("DROP TABLE counted")
    assert pd.isna(before)
    assert after == 100


def test_tables_filters_by_schema_and_can_leave_out_sizes(db: dn.Database) -> None:
    side = db.tables("B side", sizes=False)
    assert list(side.columns) == ["schema", "table", "kind", "comment"]
    assert side["table"].tolist() == ["Odd Name"]
    assert db.tables("no such schema").empty
    assert list(db.tables("no such schema").columns) == list(db.tables().columns)


def test_describe_gives_types_keys_defaults_indexes_and_comments(
    db: dn.Database,
) -> None:
    desc = db.describe("children")
    assert desc.table == "public.children"
    assert desc.kind == "table"
    assert desc.table_comment == "kids <b>& co</b>"
    expected = pd.DataFrame(
        {
            "column": ["id", "parent_id", "amount", "note", "tags"],
            "type": [
                "bigint",
                "bigint",
                "numeric(14,2)",
                "character varying(20)",
                "text[]",
            ],
            "nullable": [False, False, False, True, True],
            "default": [None, None, "0", None, None],
            "primary_key": [True, False, False, False, False],
            "foreign_key": [None, "parents.id", None, None, None],
            "indexes": [
                "children_pkey",
                "children_parent_idx",
                "children_parent_idx",
                None,
                None,
            ],
            "comment": [None, None, "in euros", None, None],
        }
    ).astype({c: desc[c].dtype for c in desc.columns})
    pd.testing.assert_frame_equal(pd.DataFrame(desc), expected)
    assert desc.index_defs["name"].tolist() == ["children_parent_idx", "children_pkey"]
    cons = desc.constraint_defs
    assert cons["type"].tolist() == ["check", "foreign key", "primary key"]
    assert "REFERENCES parents(id)" in cons["definition"].tolist()[1]


def test_describe_accepts_schema_qualified_and_exact_names(db: dn.Database) -> None:
    assert db.describe("public.parents")["column"].tolist() == ["id", "code"]
    assert db.describe('"B side"."Odd Name"').table == "B side.Odd Name"
    db.execute('CREATE TABLE "MixedCase" (a int)')
    assert db.describe("MixedCase").table == "public.MixedCase"
    assert db.describe("child_view").kind == "view"
    assert db.describe("child_totals").kind == "matview"


@pytest.mark.parametrize(
    "name",
    [
        "nope",
        "parents; DROP TABLE parents",
        "parents'); DROP TABLE parents; --",
        "a.b.c.d",
        "not_listed",
        "children_pkey",
        '"unterminated',
    ],
)
def test_unknown_or_hostile_names_are_not_found_in_one_line(
    db: dn.Database, name: str
) -> None:
    with pytest.raises(dn.NotFoundError) as info:
        db.describe(name)
    assert "\n" not in str(info.value)
    assert db.scalar("SELECT count(*) FROM parents") == 30


@pytest.mark.parametrize("name", ["", "  ", "a\x00b", 5, None])
def test_describe_refuses_non_names(db: dn.Database, name: object) -> None:
    with pytest.raises(dn.ValidationError):
        db.describe(name)  # type: ignore[arg-type]


def test_describe_html_is_deterministic_and_escaped(db: dn.Database) -> None:
    first = db.describe("children")._repr_html_()
    second = db.describe("children")._repr_html_()
    assert first == second
    assert "kids &lt;b&gt;&amp; co&lt;/b&gt;" in first
    assert "<b>& co</b>" not in first
    assert "children_parent_idx" in first
    assert "CHECK ((amount &gt;= (0)::numeric))" in first
    assert "id=" not in first  # no generated element ids
    assert "&lt;NA&gt;" not in first  # missing values are empty cells
    assert (
        repr(db.describe("parents")).splitlines()[0]
        == "public.parents (table, 2 columns)"
    )


def test_derived_frames_are_plain_dataframes(db: dn.Database) -> None:
    desc = db.describe("children")
    assert type(desc[desc["nullable"]]) is pd.DataFrame
    assert isinstance(desc, pd.DataFrame)


def test_the_migrated_schema_describes_users(schema_db: dn.Database) -> None:
    desc = schema_db.describe("users")
    by_name = desc.set_index("column")
    assert by_name.loc["id", "primary_key"]
    assert str(by_name.at["email", "type"]).startswith("character varying")
    assert "alembic_version" in schema_db.tables()["table"].tolist()
    accounts = schema_db.describe("accounts").set_index("column")
    assert accounts.loc["user_id", "foreign_key"] == "users.id"


async def test_async_twins_and_session_forms(db: dn.Database) -> None:
    assert (await db.atables())["table"].tolist() == db.tables()["table"].tolist()
    assert (await db.adescribe("parents"))["column"].tolist() == ["id", "code"]
    async with db.get_session() as session:
        inside = await schema.adescribe(session, "parents")
        assert inside.table == "public.parents"
        assert not (await schema.atables(session, "B side")).empty
    with db.get_session() as session:
        assert schema.describe(session, "parents")["column"].tolist() == ["id", "code"]


def test_tables_in_a_transaction_see_its_uncommitted_tables(db: dn.Database) -> None:
    with pytest.raises(RuntimeError), db.transaction() as session:
        dn.write_frame(session, pd.DataFrame({"a": [1]}), "pending_table")
        assert "pending_table" in schema.tables(session)["table"].tolist()
        raise RuntimeError("roll back")
    assert "pending_table" not in db.tables()["table"].tolist()


def test_an_unparsable_name_does_not_abort_the_callers_transaction(
    db: dn.Database,
) -> None:
    with db.transaction() as session:
        with pytest.raises(dn.NotFoundError):
            schema.describe(session, "a.b.c.d")
        assert schema.describe(session, "parents").table == "public.parents"
