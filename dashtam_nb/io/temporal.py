"""Dates and times into PostgreSQL's temporal columns: exact or refused.

* timestamptz takes aware timestamps (the instant is kept); naive ones are
  refused (which zone?). timestamp takes naive timestamps; aware ones are
  refused (which wall clock?). Sub-microsecond values are refused, never
  rounded; values outside PostgreSQL's range are refused.
* date takes dates, ISO ``YYYY-MM-DD`` text and naive timestamps at midnight
  (a time part would be dropped, so it is refused; aware timestamps have no
  single date).
* time takes times of day and ISO ``HH:MM[:SS[.ffffff]]`` text without a zone.
* interval takes durations and two unambiguous text forms:
  ``[-]N day[s] [+-]HH:MM[:SS[.ffffff]]`` (PostgreSQL's and pandas' output)
  and ISO 8601 ``PnDTnHnMnS``. Months and years are not fixed durations and
  numbers have no unit, so both are refused.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.compute as pc

from dashtam_nb.io.numbers import is_text
from dashtam_nb.io.refusal import bad, cast, check_mask, refuse_type

if TYPE_CHECKING:
    import pandas as pd

    from dashtam_nb.io.refusal import Target

__all__ = ["to_date", "to_interval", "to_time", "to_timestamp"]

_T = pa.types
_TS_US = pa.timestamp("us", tz="UTC")
_EPOCH_US = 946_684_800_000_000
_MIN_TS = -211_813_488_000_000_000 + _EPOCH_US  # 4714-11-24 BC, Unix µs
_END_TS = 2**63 - 1  # PostgreSQL's end (294277 AD) is past timestamp[us]'s
_MIN_DAY = -2_451_545 + 10_957  # Julian day 0, Unix days
_END_DAY = 2_147_483_494 - 2_451_545 + 10_957
_DAY_US = 86_400_000_000
_PG_STYLE = re.compile(
    r"\s*(?:([+-]?\d+)\s+days?)?\s*(?:([+-])?(\d+):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,6}))?)?)?\s*"
)
_ISO = re.compile(
    # Days may carry their own sign, as pandas writes them (P-1DT2H0M0S is
    # -1 day +02:00, as PostgreSQL reads it).
    r"([+-])?P(?:([+-]?\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)(?:\.(\d{1,6}))?S)?)?"
)


def _range(values: pa.Array, lo: int, end: int) -> pa.Array:
    return pc.or_(pc.less(values, lo), pc.greater_equal(values, end))


def to_timestamp(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """``timestamp[us]`` (naive for timestamp, UTC for timestamptz)."""
    aware = target.kind == "timestamptz"
    if not _T.is_timestamp(arr.type):
        raise refuse_type(arr, target, index, f"{arr.type} values are not timestamps")
    if aware and arr.type.tz is None:
        raise refuse_type(
            arr,
            target,
            index,
            "naive timestamps are ambiguous; localize them "
            "(e.g. .dt.tz_localize('UTC'))",
        )
    if not aware and arr.type.tz is not None:
        raise refuse_type(
            arr,
            target,
            index,
            "aware timestamps into timestamp without time zone; drop the zone "
            "first (.dt.tz_convert(zone).dt.tz_localize(None))",
        )
    out = cast(
        arr,
        _TS_US if aware else pa.timestamp("us"),
        target,
        index,
        "finer than microseconds",
    )
    us = pc.cast(out, pa.int64())
    check_mask(
        _range(us, _MIN_TS, _END_TS), target, index, "out of range for timestamp"
    )
    return out


def to_date(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """``date32``; a time part is never dropped."""
    if _T.is_timestamp(arr.type):
        if arr.type.tz is not None:
            raise refuse_type(
                arr,
                target,
                index,
                "aware timestamps have no single date; use .dt.date or "
                ".dt.tz_localize(None) first",
            )
        out = pc.cast(arr, pa.date32(), safe=False)
        back = pc.cast(out, arr.type)
        check_mask(
            pc.not_equal(back, arr), target, index, "has a time part (a date has none)"
        )
    elif _T.is_date(arr.type) or is_text(arr.type):
        out = cast(arr, pa.date32(), target, index, "not a date (YYYY-MM-DD)")
    else:
        raise refuse_type(arr, target, index, f"{arr.type} values are not dates")
    days = pc.cast(out, pa.int32())
    check_mask(_range(days, _MIN_DAY, _END_DAY), target, index, "out of range for date")
    return out


_TIME = re.compile(r"\s*([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,6}))?)?\s*")


def _parse_time(text: str) -> time | None:
    m = _TIME.fullmatch(text)
    if m is None:
        return None
    hour, minute, second, frac = m.groups()
    micro = int((frac or "0").ljust(6, "0"))
    return time(int(hour), int(minute), int(second or 0), micro)


def to_time(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """``time64[us]`` within one day."""
    if is_text(arr.type):
        values = []
        for i, text in enumerate(arr.to_pylist()):
            value = None if text is None else _parse_time(text)
            if text is not None and value is None:
                raise bad(target, index[i], "not a time of day (HH:MM[:SS[.ffffff]])")
            values.append(value)
        return pa.array(values, pa.time64("us"))
    if not _T.is_time(arr.type):
        raise refuse_type(arr, target, index, f"{arr.type} values are not times of day")
    out = cast(arr, pa.time64("us"), target, index, "finer than microseconds")
    us = pc.cast(out, pa.int64())
    check_mask(_range(us, 0, _DAY_US), target, index, "not a time of day")
    return out


def _parse_interval(text: str) -> timedelta | None:
    m = _PG_STYLE.fullmatch(text)
    if m and (m.group(1) or m.group(3)):
        days, sign, hours, minutes, seconds, frac = m.groups()
        clock = timedelta(
            hours=int(hours or 0),
            minutes=int(minutes or 0),
            seconds=int(seconds or 0),
            microseconds=int((frac or "0").ljust(6, "0")),
        )
        return timedelta(days=int(days or 0)) + (-clock if sign == "-" else clock)
    m = _ISO.fullmatch(text.strip())
    if m and any(m.groups()[1:]):
        sign, days, hours, minutes, seconds, frac = m.groups()
        value = timedelta(
            days=int(days or 0),
            hours=int(hours or 0),
            minutes=int(minutes or 0),
            seconds=int(seconds or 0),
            microseconds=int((frac or "0").ljust(6, "0")),
        )
        return -value if sign == "-" else value
    return None


def to_interval(arr: pa.Array, target: Target, index: pd.Index) -> pa.Array:
    """``duration[us]``."""
    if is_text(arr.type):
        values = []
        for i, text in enumerate(arr.to_pylist()):
            try:
                value = None if text is None else _parse_interval(text)
            except OverflowError:
                value = None
            if text is not None and value is None:
                raise bad(
                    target,
                    index[i],
                    "not a duration in an exact form ('1 day 02:00:00' or "
                    "'P1DT2H'; months and years have no fixed length)",
                )
            values.append(value)
        return pa.array(values, pa.duration("us"))
    if not _T.is_duration(arr.type):
        raise refuse_type(
            arr,
            target,
            index,
            f"{arr.type} values are not durations (numbers have no unit: "
            "use pd.to_timedelta(x, unit=...))",
        )
    return cast(arr, pa.duration("us"), target, index, "finer than microseconds")
