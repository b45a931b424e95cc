"""Exact DataFrame comparison shared by the frame, bulk and streaming tests."""

from __future__ import annotations

import pandas as pd


def assert_identical(left: pd.DataFrame, right: pd.DataFrame) -> None:
    """Same columns, dtypes and values, exactly.

    ``assert_frame_equal`` gives the readable diff, but compares Arrow-backed
    floats approximately whatever ``check_exact`` says; ``equals`` is exact.
    """
    pd.testing.assert_frame_equal(left, right, check_exact=True)
    assert left.equals(right)
