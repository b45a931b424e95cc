"""Pool options are validated before any connection: bounded and typed."""

from __future__ import annotations

import pytest

import dashtam_nb as dn

URL = "postgresql://u@h/db"


@pytest.mark.parametrize("size", [1, 5, 100])
def test_pool_sizes_up_to_the_server_default_limit_are_accepted(size: int) -> None:
    assert dn.Database(URL, pool_size=size, max_overflow=size).pool_status() == {
        "checked_out": 0,
        "idle": 0,
    }


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("pool_size", 101),
        ("pool_size", 10**9),
        ("max_overflow", 101),
        ("pool_size", 0),
        ("pool_size", -1),
        ("pool_size", 2.0),
        ("pool_size", True),
        ("max_overflow", "3"),
    ],
)
def test_unbounded_or_odd_pool_sizes_are_refused(option: str, value: object) -> None:
    with pytest.raises(dn.ValidationError) as info:
        dn.Database(URL, **{option: value})  # type: ignore[arg-type]
    assert info.value.field == option
    assert "\n" not in str(info.value)
