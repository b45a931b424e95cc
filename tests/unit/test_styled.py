"""styled: units and seconds on display, the frame itself untouched."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pyarrow as pa
import pytest

import dashtam_nb as dn
from dashtam_nb.styled import money_text, month_text, time_text

MONEY = pd.ArrowDtype(pa.decimal128(14, 2))
UTC_TS = pd.ArrowDtype(pa.timestamp("us", tz="UTC"))


def postings() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": pd.Series(
                [Decimal("-32.54"), Decimal("1234.50"), None, Decimal("7")], dtype=MONEY
            ),
            "currency": ["USD", "EUR", "GBP", "CHF"],
            "description": ["PG&E", "<b>", "", "x"],
            "posted_at": pd.Series(
                [pd.Timestamp("2024-01-22 21:35:54.791772", tz="UTC")] * 4, dtype=UTC_TS
            ),
        }
    )


@pytest.mark.parametrize(
    ("value", "currency", "shown"),
    [
        (Decimal("-32.54"), "USD", "-$32.54"),
        (Decimal("1234.5"), "EUR", "€1,234.50"),
        (Decimal("0"), "GBP", "£0.00"),
        (Decimal("1234567.891"), "CHF", "1,234,567.89 CHF"),
        (None, "USD", "<NA>"),
        (pd.NA, "USD", "<NA>"),
    ],
)
def test_money_text(value, currency, shown) -> None:
    assert money_text(value, currency) == shown


def test_time_and_month_text() -> None:
    stamp = pd.Timestamp("2024-01-22 21:35:54.791772", tz="UTC")
    assert time_text(stamp) == "2024-01-22 21:35:54"
    assert time_text(stamp.tz_convert("Europe/Paris")) == "2024-01-22 22:35:54+01:00"
    assert time_text(pd.Timestamp("2024-01-22 21:35:54.5")) == "2024-01-22 21:35:54"
    assert time_text(pd.NaT) == "<NA>"
    assert month_text(pd.Timestamp("2025-03-01", tz="UTC")) == "2025-03"
    assert month_text(pd.Period("2025-03", "M")) == "2025-03"
    assert month_text(None) == "<NA>"


def test_text_form_shows_units_seconds_and_the_utc_caption() -> None:
    shown = repr(dn.styled(postings(), money=["amount"]))
    lines = shown.splitlines()
    assert lines[0] == "times in UTC"
    assert lines[1].split() == ["amount", "currency", "description", "posted_at"]
    assert lines[2].split()[:3] == ["0", "-$32.54", "USD"]
    assert "€1,234.50" in lines[3]
    assert "<NA>" in lines[4]
    assert "7.00 CHF" in lines[5]
    assert ".791772" not in shown
    assert "+00:00" not in shown


def test_html_is_escaped_formatted_and_the_same_every_time() -> None:
    frame = postings()
    first = dn.styled(frame, money=["amount"]).to_html()
    again = dn.styled(postings(), money=["amount"]).to_html()
    assert first == again  # ids come from the content, not a random uuid
    assert ">-$32.54<" in first
    assert ">2024-01-22 21:35:54<" in first
    assert "PG&amp;E" in first
    assert "&lt;b&gt;" in first
    assert "&lt;NA&gt;" in first
    assert "<caption>times in UTC</caption>" in first
    assert 'class="dataframe"' in first.split("<table", 1)[1].split(">", 1)[0]
    other = dn.styled(frame.head(2), money=["amount"]).to_html()
    assert other.split('id="', 1)[1][:10] != first.split('id="', 1)[1][:10]


def test_the_frame_behind_keeps_its_values_and_dtypes() -> None:
    frame = postings()
    before = frame.dtypes.to_dict()
    styler = dn.styled(frame, money=["amount"])
    assert vars(styler)["data"] is frame  # Styler.data; the stubs lack it
    assert frame.dtypes.to_dict() == before
    assert frame["amount"].iloc[0] == Decimal("-32.54")


def test_currency_from_argument_index_or_column_name() -> None:
    per_category = pd.Series(
        [Decimal("64099.36")],
        index=pd.Index(["rent"], name="category"),
        dtype=MONEY,
        name="spent",
    ).to_frame()
    assert "$64,099.36" in repr(
        dn.styled(per_category, money=["spent"], currency="USD")
    )
    net = pd.Series(
        [Decimal("-8114.77")],
        index=pd.Index(["EUR"], name="currency"),
        dtype=MONEY,
        name="amount",
    )
    assert "-€8,114.77" in repr(dn.styled(net, money=["amount"]))
    pivot = pd.DataFrame({"GBP": pd.Series([Decimal("578.19")], dtype=MONEY)})
    assert "£578.19" in repr(dn.styled(pivot, money=["GBP"]))
    with pytest.raises(dn.ValidationError, match="which currency"):
        dn.styled(per_category, money=["spent"])
    with pytest.raises(dn.ValidationError, match="ISO 4217"):
        dn.styled(per_category, money=["spent"], currency="dollars")


def test_months_in_a_column_or_the_index() -> None:
    frame = pd.DataFrame(
        {
            "month": pd.Series([pd.Timestamp("2025-03-01", tz="UTC")], dtype=UTC_TS),
            "spent": pd.Series([Decimal("1.50")], dtype=MONEY),
        }
    )
    column = dn.styled(frame, money=["spent"], months=["month"], currency="USD")
    assert repr(column).splitlines()[-1].split() == ["0", "2025-03", "$1.50"]
    assert "times in UTC" not in repr(column)  # a month is not a time of day
    indexed = dn.styled(
        frame.set_index("month"), money=["spent"], months=["month"], currency="USD"
    )
    assert repr(indexed).splitlines()[-1].split() == ["2025-03", "$1.50"]
    assert ">2025-03<" in indexed.to_html()


def test_unknown_columns_are_named() -> None:
    with pytest.raises(dn.ValidationError, match="no such column: spend"):
        dn.styled(postings(), money=["spend"])
