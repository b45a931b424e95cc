"""Checks added for the fuzz's known raw errors: zones, cut-offs, criteria (14.2)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
import pytest
import sqlalchemy as sa

from dashtam_nb.checks import check_aware
from dashtam_nb.errors import ValidationError
from dashtam_nb.models import TransactionModel
from dashtam_nb.repositories.soft_delete import check_criteria, check_cutoff
from tests.support.bad_inputs import Hostile, _BadTz, _OddTz


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2020, 1, 1),
        dt.datetime(2020, 1, 1, tzinfo=_BadTz()),
        dt.date(2020, 1, 1),
        "2020-01-01T00:00:00Z",
        Hostile(),
        pd.DataFrame(),
    ],
)
def test_check_aware_refuses_naive_broken_or_foreign_values(value: Any) -> None:
    with pytest.raises(ValidationError) as info:
        check_aware(value, "start")
    assert info.value.field == "start"
    assert "2020" not in str(info.value)


def test_check_aware_keeps_aware_datetimes_even_odd_zones() -> None:
    for zone in (dt.UTC, _OddTz()):
        when = dt.datetime(2020, 1, 1, tzinfo=zone)
        assert check_aware(when, "start") is when


@pytest.mark.parametrize(
    "value",
    [dt.timedelta(-1), dt.datetime(2020, 1, 1, tzinfo=_BadTz()), 30, Hostile()],
)
def test_check_cutoff_refuses_before_sql(value: Any) -> None:
    with pytest.raises(ValidationError, match="older_than"):
        check_cutoff(value)
    assert check_cutoff(dt.timedelta(days=30)) == dt.timedelta(days=30)


@pytest.mark.parametrize(
    "criterion",
    [
        True,
        sa.true(),
        sa.literal(True),
        sa.select(sa.literal(1)),
        sa.select(TransactionModel.id).where(TransactionModel.category == "fees"),
        "category = 'fees'",
        sa.text("category = 'fees'"),
        sa.table("transactions"),
        Hostile(),
    ],
)
def test_soft_delete_criteria_must_read_a_column(criterion: Any) -> None:
    with pytest.raises(ValidationError) as info:
        check_criteria((TransactionModel.category == "fees", criterion))
    assert info.value.field == "criteria"


def test_soft_delete_criteria_take_column_expressions() -> None:
    check_criteria((TransactionModel.category == "fees",))
    check_criteria((sa.and_(TransactionModel.amount < 0, sa.true()),))
    with pytest.raises(ValidationError, match="at least one"):
        check_criteria(())
