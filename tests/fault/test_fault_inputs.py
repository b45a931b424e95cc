"""Bad arguments and hostile values (plan A5, A10-A12 shapes): refused before SQL.

The registries in tests/support/bad_inputs.py say *where* bad input is thrown; the
parts still being built add their entry points there and land in these cases.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

import dashtam_nb as dn
from tests.support.bad_inputs import (
    BAD_INTS,
    BAD_NAMES,
    BAD_SECONDS,
    INJECTIONS,
    INT_PARAMETERS,
    NAME_PARAMETERS,
    ODD_VALUES,
    SECONDS_PARAMETERS,
    UNSENDABLE_VALUES,
    VALUE_PARAMETERS,
)
from tests.support.harness import assert_error_clean, bad_input, no_sql

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

pytestmark = pytest.mark.fault


def _cases(registry: dict[str, Any], values: list[Any]) -> list[Any]:
    return [
        pytest.param(fn, value, id=f"{label}-{value!r:.30}")
        for label, fn in registry.items()
        for value in values
    ]


@pytest.mark.parametrize(("call", "name"), _cases(NAME_PARAMETERS, BAD_NAMES))
def test_bad_names_are_refused_before_sql(
    call: Callable[[Any], object], name: Any
) -> None:
    bad_input()
    with no_sql(), pytest.raises(dn.ValidationError) as info:
        call(name)
    assert info.value.field
    assert_error_clean(info.value)


@pytest.mark.parametrize(("call", "value"), _cases(INT_PARAMETERS, BAD_INTS))
def test_bad_ints_are_refused_before_sql(
    call: Callable[[Any], object], value: Any
) -> None:
    bad_input()
    with no_sql(), pytest.raises(dn.ValidationError) as info:
        call(value)
    assert info.value.field
    assert_error_clean(info.value)


@pytest.mark.parametrize(("call", "value"), _cases(SECONDS_PARAMETERS, BAD_SECONDS))
def test_bad_durations_are_refused_before_sql(
    call: Callable[[Any], object], value: Any
) -> None:
    bad_input()
    with no_sql(), pytest.raises(dn.ValidationError) as info:
        call(value)
    assert info.value.field
    assert_error_clean(info.value)


@pytest.mark.parametrize(
    ("sql", "params"),
    [
        (12345, None),
        (None, None),
        (b"SELECT 1", None),
        ("SELECT 1", [1]),
        ("SELECT 1", "x"),
    ],
)
def test_bad_statement_arguments(module_db: dn.Database, sql: Any, params: Any) -> None:
    bad_input()
    with no_sql(), pytest.raises(dn.ValidationError):
        module_db.scalar(sql, params)


@pytest.mark.parametrize("retries", [True, -1, 1.5, "2", None])
async def test_bad_retries(module_db: dn.Database, retries: Any) -> None:
    bad_input()

    async def work(session: Any) -> None:
        raise AssertionError("must not run")

    with no_sql(), pytest.raises(dn.ValidationError) as info:
        await module_db.arun_transaction(work, retries=retries)
    assert info.value.field == "retries"


@pytest.fixture(scope="module")
def canary_db(module_db: dn.Database) -> dn.Database:
    module_db.execute("CREATE TABLE canary (id int PRIMARY KEY, v text NOT NULL)")
    module_db.execute("INSERT INTO canary VALUES (1, 'a'), (2, 'b'), (3, 'c')")
    module_db.execute("CREATE TABLE canary_values (id serial PRIMARY KEY, v text)")
    return module_db


async def _canary_intact(db: dn.Database) -> None:
    assert await db.ascalar("SELECT to_regclass('canary') IS NOT NULL") is True
    assert (
        await db.ascalar("SELECT string_agg(v, ',' ORDER BY id) FROM canary") == "a,b,c"
    )


@pytest.mark.parametrize(("sink", "value"), _cases(VALUE_PARAMETERS, ODD_VALUES))
async def test_hostile_values_are_only_ever_values(
    canary_db: dn.Database,
    sink: Callable[[dn.Database, Any], Awaitable[Any]],
    value: Any,
) -> None:
    bad_input()
    assert await sink(canary_db, value) == value
    await _canary_intact(canary_db)


@pytest.mark.parametrize(("sink", "value"), _cases(VALUE_PARAMETERS, UNSENDABLE_VALUES))
async def test_unsendable_text_is_a_validation_error(
    canary_db: dn.Database,
    sink: Callable[[dn.Database, Any], Awaitable[Any]],
    value: Any,
) -> None:
    bad_input()
    before = await canary_db.ascalar("SELECT count(*) FROM canary_values")
    with pytest.raises(dn.ValidationError) as info:
        await sink(canary_db, value)
    assert_error_clean(info.value)
    assert await canary_db.ascalar("SELECT count(*) FROM canary_values") == before
    await _canary_intact(canary_db)
    assert canary_db.pool_status()["checked_out"] == 0


@pytest.mark.parametrize("text", ["SELECT '\udcff'", "SELECT 'a\x00b'"])
async def test_unsendable_sql_text_is_refused(
    canary_db: dn.Database, text: str
) -> None:
    bad_input()
    with pytest.raises(dn.DashtamError) as info:
        await canary_db.ascalar(text)
    assert_error_clean(info.value)
    assert await canary_db.ascalar("SELECT 1") == 1


@pytest.mark.parametrize("value", INJECTIONS)
async def test_injection_in_a_session_statement(
    canary_db: dn.Database, value: str
) -> None:
    """The HoppingSession path (notebook `async with db.get_session()`) binds too."""
    from sqlalchemy import text

    bad_input()
    async with canary_db.get_session() as session:
        found = await session.execute(
            text("SELECT id FROM canary WHERE v = :v"), {"v": value}
        )
        assert found.all() == []
    await _canary_intact(canary_db)
