"""Spending: which transactions count as money spent, summed per month.

The rule, in one place: **spending is a debit (a negative amount) that is not
a transfer**. Transfers (`NOT_SPENDING`) move money between accounts, for
example checking to savings, so counting them would report the same dollar as
spent when it was only moved. Credits (salary, interest, refunds) are never
spending; refunds are not netted against a category either, since the sample
data books them under their own ``refund`` category. The SQL side of the rule
is `TransactionRepository.spending_by_category_frame`; `is_spending` is the
same rule for rows already in pandas, so the two can be checked against each
other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dashtam_nb.database import check_database
from dashtam_nb.errors import ValidationError
from dashtam_nb.repositories.account import check_currency
from dashtam_nb.repositories.transaction import NOT_SPENDING, TransactionRepository
from dashtam_nb.runner import blocking

if TYPE_CHECKING:
    from datetime import datetime
    from uuid import UUID

    import pandas as pd

    from dashtam_nb.database import Database

__all__ = ["NOT_SPENDING", "aspending_by_month", "is_spending", "spending_by_month"]


def is_spending(transactions: pd.DataFrame) -> pd.Series:
    """Which rows of a transactions frame are spending (the module's rule).

    Args:
        transactions: a frame with ``amount`` and ``category`` columns, such as
            ``TransactionRepository.find_all_frame()``.

    Returns:
        A boolean Series on the frame's index.
    """
    import pandas as pd

    if not isinstance(transactions, pd.DataFrame):
        raise ValidationError("transactions must be a DataFrame", field="transactions")
    missing = sorted({"amount", "category"} - set(transactions.columns))
    if missing:
        raise ValidationError(
            f"a transactions frame needs columns: {', '.join(missing)}",
            field="columns",
        )
    debit = transactions["amount"] < 0
    moved = transactions["category"].isin(sorted(NOT_SPENDING))
    spent: pd.Series = (debit & ~moved).fillna(False).astype(bool)
    return spent


async def aspending_by_month(
    db: Database,
    *,
    currency: str | None = None,
    user_id: UUID | str | None = None,
    account_id: UUID | str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> pd.DataFrame:
    """Spending per calendar month (UTC), category and currency.

    The summary is computed in PostgreSQL; only the months change type here,
    to ``period[M]``, which pandas shows as ``2025-03`` and still sorts,
    groups and plots as months (``.dt.to_timestamp()`` gives timestamps back).

    Args:
        db: the database to read.
        currency: keep one ISO 4217 currency (amounts of different currencies
            never add up, so most analyses pick one).
        user_id: keep one user's accounts.
        account_id: keep one account.
        start: first instant of a half-open period (timezone-aware).
        end: end of the period, excluded (timezone-aware).

    Returns:
        Columns ``month`` (``period[M]``), ``category``, ``currency``,
        ``spent`` (exact ``decimal128(38, 2)``, positive) and ``transactions``
        (count), ordered by month, category and currency.
    """
    check_database(db)
    code = None if currency is None else check_currency(currency)
    # Ids and the period are checked by the repository, before its SQL.
    async with db.get_session() as session:
        frame = await TransactionRepository(session).spending_by_category_frame(
            user_id=user_id, account_id=account_id, start=start, end=end
        )
    if code is not None:
        frame = frame[frame["currency"] == code].reset_index(drop=True)
    # The month's start in UTC, without its zone: a calendar month has none.
    months = frame["month"].astype("datetime64[us, UTC]").dt.tz_localize(None)
    return frame.assign(month=months.dt.to_period("M"))


spending_by_month = blocking(aspending_by_month)
