"""Errors an analyst can act on (issue 13.7), against the real server.

Each is one line, names where or what to fix, and never echoes the statement
or its parameters.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import dashtam_nb as dn

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def db(server_url: object) -> Iterator[dn.Database]:
    database = dn.connect("t_analyst_errors", fresh=True)
    yield database
    dn.run(database.close())
    dn.drop_database("t_analyst_errors")


@pytest.mark.parametrize(
    ("sql", "where", "near"),
    [
        ("selec 1", (1, 1), "selec"),
        ("SELECT 1 AS one,\n       2 frm t", (2, 14), "t"),
        ("SELECT 'it''s' AS s,\n\n  :v AS v,\n  (1 +) AS bad", (4, 7), ")"),
        ("SELECT :v AS v, '100%' AS p, :v AS w frm t", (1, 38), "frm"),
    ],
)
def test_syntax_errors_say_line_and_column(
    db: dn.Database, sql: str, where: tuple[int, int], near: str
) -> None:
    with pytest.raises(dn.DatabaseError) as caught:
        db.frame(sql, {"v": "secret-value"})
    message = str(caught.value)
    assert "\n" not in message
    assert f'at or near "{near}"' in message
    assert f"(line {where[0]}, column {where[1]})" in message
    assert caught.value.position == where
    assert "secret-value" not in message
    assert "SELECT" not in message


def test_a_missing_project_table_names_the_migration_call(db: dn.Database) -> None:
    with pytest.raises(dn.DatabaseError) as caught:
        db.frame("SELECT * FROM users")
    message = str(caught.value)
    assert message.startswith('relation "users" does not exist')
    assert 'migrations.upgrade("head", db=db)' in message
    assert "sample_data.seed(db)" in message


def test_seeding_before_migrating_says_what_to_run(db: dn.Database) -> None:
    with pytest.raises(dn.DashtamError) as caught:
        dn.sample_data.seed(db, size="small")
    assert "migrations.upgrade" in str(caught.value)
    assert db.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == 0


def test_any_other_missing_relation_points_at_tables(db: dn.Database) -> None:
    with pytest.raises(dn.DatabaseError, match=r"db\.tables\(\)"):
        db.execute("UPDATE no_such_table SET x = 1")


@pytest.mark.parametrize("params", [None, {}, {"y": 1}])
def test_a_missing_bind_parameter_is_one_line(
    db: dn.Database, params: dict[str, int] | None
) -> None:
    with pytest.raises(dn.ValidationError) as caught:
        db.frame("SELECT :x AS x, :y AS y", params)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("no value for the bind parameter :x")
    assert caught.value.field == "x"
    assert "SELECT" not in message
    assert db.scalar("SELECT 1") == 1  # the database goes on
