"""Frames shown for people: money with its currency, times to the second.

`styled` returns a pandas `Styler`, so only the *display* changes: the frame
behind it keeps its exact decimals and timestamps for any further analysis
(formatting into string columns would break sums and sorts). The choices:

* money as ``$1,234.56``, ``€388.54``, ``£578.19`` (other currencies as
  ``1,234.56 CHF``), negative amounts as ``-$32.54``;
* times to the second; a UTC column drops its ``+00:00`` (the caption says
  "times in UTC" instead), another zone keeps its offset;
* months named in ``months=`` as ``2025-03``; a ``period[M]`` column (as
  `dashtam_nb.spending.spending_by_month` returns) shows that way already.

The plain-text form (what a terminal, nbval and ``print`` show) holds the same
texts, and the HTML's element ids derive from the content, so the output of a
cell is the same on every run.
"""

from __future__ import annotations

import functools
import hashlib
import html
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
from pandas.io.formats.style import Styler

from dashtam_nb.checks import check_names
from dashtam_nb.errors import ValidationError
from dashtam_nb.repositories.account import check_currency

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["StyledFrame", "money_text", "month_text", "styled", "time_text"]

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£"}
_NA = "<NA>"  # what pandas shows for a missing value, kept for familiarity


def money_text(value: Any, currency: str) -> str:
    """``-1234.5`` in ``USD`` as ``-$1,234.50``; a missing value as ``<NA>``."""
    if value is None or pd.isna(value):
        return _NA
    number = f"{abs(value):,.2f}"
    sign = "-" if value < 0 else ""
    symbol = _SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def time_text(value: Any) -> str:
    """A timestamp to the second, without ``+00:00`` when it is in UTC."""
    if value is None or pd.isna(value):
        return _NA
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None or stamp.utcoffset() == pd.Timedelta(0):
        return stamp.strftime("%Y-%m-%d %H:%M:%S")
    return stamp.isoformat(sep=" ", timespec="seconds")


def month_text(value: Any) -> str:
    """A month (timestamp, date or period) as ``2025-03``."""
    if value is None or pd.isna(value):
        return _NA
    if isinstance(value, pd.Period):
        return value.asfreq("M").strftime("%Y-%m")
    return pd.Timestamp(value).strftime("%Y-%m")


class StyledFrame(Styler):
    """A `Styler` whose plain-text form is the formatted table, not an address.

    `styled` sets ``text``; a copy pandas makes while rendering HTML keeps the
    empty default, which nothing shows.
    """

    text = ""

    def __repr__(self) -> str:
        """The formatted table as text, the same on every run."""
        return self.text


def _is_time(dtype: Any) -> bool:
    if isinstance(dtype, pd.ArrowDtype):
        return bool(pa.types.is_timestamp(dtype.pyarrow_dtype))
    return bool(pd.api.types.is_datetime64_any_dtype(dtype))


def _utc(dtype: Any) -> bool:
    if isinstance(dtype, pd.ArrowDtype):
        return str(getattr(dtype.pyarrow_dtype, "tz", None)) in {"UTC", "+00:00"}
    return str(getattr(dtype, "tz", None)) == "UTC"


def _in(currency: str, value: Any) -> str:
    return money_text(value, currency)


def _escaped(show: Callable[[Any], str], value: Any) -> str:
    return html.escape(show(value))


def _units(frame: pd.DataFrame, column: str, currency: str | None) -> list[str]:
    """The currency of each row's amount in ``column``."""
    if currency is not None:
        return [check_currency(currency)] * len(frame)
    if "currency" in frame.columns:
        return [str(code) for code in frame["currency"]]
    if frame.index.name == "currency":
        return [str(code) for code in frame.index]
    if len(column) == 3 and column.isupper():  # a pivot with a column per currency
        return [column] * len(frame)
    raise ValidationError(
        f"which currency is {column!r} in? pass currency='USD' or keep a "
        "'currency' column",
        field="currency",
    )


def styled(
    frame: pd.DataFrame | pd.Series,
    *,
    money: Sequence[str] = (),
    currency: str | None = None,
    months: Sequence[str] = (),
    times: Sequence[str] | None = None,
) -> StyledFrame:
    """Show a frame with units, leaving its values (and dtypes) as they are.

    Args:
        frame: what to show (a Series shows as its one-column frame).
        money: columns of amounts; each is shown in its currency.
        currency: the currency of every ``money`` column. Without it a row's
            ``currency`` column (or a ``currency`` index) decides, and a
            column named by a code (``USD``, as a pivot makes) is in that code.
        months: columns, or the index's name, shown as ``2025-03``.
        times: timestamp columns shown to the second; by default every
            timestamp column not in ``months``.

    Returns:
        A `Styler` over ``frame``: ``.data`` is the frame itself.
    """
    if not isinstance(frame, pd.DataFrame | pd.Series):
        raise ValidationError("frame must be a DataFrame or a Series", field="frame")
    money, months = check_names(money, "money"), check_names(months, "months")
    times = None if times is None else check_names(times, "times")
    currency = None if currency is None else check_currency(currency)
    data = frame.to_frame() if isinstance(frame, pd.Series) else frame
    unknown = [c for c in [*money, *months, *(times or ())] if c not in data.columns]
    unknown = [c for c in unknown if c != data.index.name]
    if unknown:
        raise ValidationError(f"no such column: {', '.join(unknown)}", field="columns")
    if times is None:
        times = [c for c in data.columns if _is_time(data[c].dtype) and c not in months]
    texts = data.astype(object)
    cells: list[tuple[Callable[[Any], str], Any]] = []
    index_show: Callable[[Any], str] | None = None
    for column in money:
        units = _units(data, column, currency)
        texts[column] = [
            money_text(v, u) for v, u in zip(data[column], units, strict=True)
        ]
        for code in dict.fromkeys(units):
            rows = [u == code for u in units]
            cells.append((functools.partial(_in, code), (rows, [column])))
    shows: list[tuple[str, Callable[[Any], str]]] = [
        *((c, time_text) for c in times),
        *((c, month_text) for c in months),
    ]
    for column, show in shows:
        if column == data.index.name and column not in data.columns:
            texts.index = pd.Index([show(v) for v in data.index], name=column)
            index_show = show
            continue
        texts[column] = [show(v) for v in data[column]]
        cells.append((show, [column]))
    utc = any(_utc(data[c].dtype) for c in times if c in data.columns)
    caption = "times in UTC" if utc else None
    text = texts.to_string()
    text = f"{caption}\n{text}" if caption else text
    uuid = hashlib.sha1(text.encode()).hexdigest()[:8]
    styler = StyledFrame(data, uuid=uuid, cell_ids=False)
    styler.text = text
    # Every cell escaped, as DataFrame's own HTML does ("PG&E", "<NA>").
    styler.format(escape="html", na_rep=html.escape(_NA))
    for show, subset in cells:
        styler.format(functools.partial(_escaped, show), subset=subset)
    if index_show is not None:
        styler.format_index(functools.partial(_escaped, index_show), axis=0)
    # Jupyter's and nbconvert's CSS for frames then applies here too.
    styler.set_table_attributes('class="dataframe"')
    if caption:
        styler.set_caption(caption)
    return styler
