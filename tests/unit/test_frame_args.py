"""Frame, fetch and stream arguments refused by type before any SQL (14.2)."""

from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd
import pytest

import dashtam_nb as dn
from dashtam_nb.entities import User
from dashtam_nb.errors import ValidationError
from dashtam_nb.io.readmap import check_numeric_mode
from dashtam_nb.models import UserModel
from dashtam_nb.progress import would_show
from tests.support.bad_inputs import Hostile


def _user() -> User:
    return User(email="a@example.com", password_hash="x")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"entities": 5}, "entities"),
        ({"entities": Hostile()}, "entities"),
        ({"entities": "text"}, "entities"),
        ({"entities": pd.DataFrame({"a": [1]})}, "entities"),
        ({"entities": [_user(), 5]}, "entities"),
        ({"entities": [], "entity_type": 5}, "entity_type"),
        ({"entities": [_user()], "model": "users"}, "model"),
        ({"entities": [_user()], "include_secrets": pd.DataFrame()}, "include_secrets"),
    ],
)
def test_to_frame_refuses_what_is_no_entity_list(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        dn.to_frame(**kwargs)
    assert info.value.field == field


def test_to_frame_takes_lists_tuples_and_generators() -> None:
    users = [_user(), _user()]
    for given in (users, tuple(users), (u for u in users)):
        frame = dn.to_frame(given, model=UserModel)
        assert len(frame) == 2
        assert "password_hash" not in frame.columns
    assert list(dn.to_frame([], User).columns) == list(dn.to_frame(users).columns)


@pytest.mark.parametrize("args", [(5,), (None,), (pd.DataFrame(), None)])
def test_stable_wants_a_frame_and_names(args: tuple[Any, ...]) -> None:
    with pytest.raises(ValidationError):
        dn.stable(*args)
    assert list(dn.stable(pd.DataFrame({"id": [1], "x": [2]}), "y").columns) == ["x"]


@pytest.mark.parametrize("mode", [pd.DataFrame(), Hostile(), 1, None, "FLOAT"])
def test_numeric_mode_is_checked_by_type_first(mode: Any) -> None:
    with pytest.raises(ValidationError, match="numeric"):
        check_numeric_mode(mode)


@pytest.mark.parametrize(
    ("total", "show"), [(-1, None), ("5", None), (1.5, True), (None, "yes")]
)
def test_progress_arguments(total: Any, show: Any) -> None:
    with pytest.raises(ValidationError):
        would_show(show, total)


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        ((5, "SELECT 1"), {}, "session"),
        ((Hostile(), "SELECT 1"), {}, "session"),
    ],
)
def test_fetch_checks_the_session_first(
    args: tuple[Any, ...], kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as info:
        asyncio.run(dn.afetch_frame(*args, **kwargs))
    assert info.value.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"source": 5}, "source"),
        ({"params": pd.DataFrame()}, "params"),
        ({"total": "many"}, "total"),
        ({"progress": pd.DataFrame()}, "progress"),
        ({"include_deleted": Hostile()}, "include_deleted"),
        ({"fast": 1}, "fast"),
    ],
)
def test_stream_checks_before_sql(kwargs: dict[str, Any], field: str) -> None:
    source = kwargs.pop("source", dn.Database("postgresql://app@127.0.0.1:1/none"))

    async def first() -> None:
        async for _ in dn.astream_frames(source, "SELECT 1", **kwargs):
            break

    with pytest.raises(ValidationError) as info:
        asyncio.run(first())
    assert info.value.field == field
