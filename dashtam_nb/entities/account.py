"""The Account entity: a financial account owned by a user."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Literal
from uuid import UUID

from dashtam_nb.ids import uuid7

__all__ = ["ACCOUNT_TYPES", "Account", "AccountType"]

AccountType = Literal["checking", "savings", "credit", "brokerage"]
"""The account kinds the accounts table's CHECK constraint allows."""

ACCOUNT_TYPES: tuple[AccountType, ...] = ("checking", "savings", "credit", "brokerage")
"""Runtime list of ``AccountType``; the model's CHECK is built from it."""


@dataclass(kw_only=True, slots=True)
class Account:
    """A financial account; soft-deleted with its user (and restored with it)."""

    id: UUID = field(default_factory=uuid7)
    user_id: UUID
    name: str
    institution: str
    account_type: AccountType
    currency: str = "USD"
    # Decimal, never float: money must add up to the cent.
    balance: Decimal = Decimal("0.00")
    created_at: datetime | None = None
    updated_at: datetime | None = None
    is_deleted: bool = False
    deleted_at: datetime | None = None
    # The row version this copy was read at (None: never stored).
    version: int | None = None
