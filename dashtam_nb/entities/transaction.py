"""The Transaction entity: one posted movement of money on an account."""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from dashtam_nb.ids import uuid7

__all__ = ["Transaction"]


@dataclass(kw_only=True, slots=True)
class Transaction:
    """A posted transaction; negative amounts are debits.

    ``posted_at`` is when the bank booked it, ``created_at`` when we stored it.
    """

    id: UUID = field(default_factory=uuid7)
    account_id: UUID
    amount: Decimal
    currency: str = "USD"
    category: str
    description: str = ""
    posted_at: datetime
    created_at: datetime | None = None
    updated_at: datetime | None = None
    is_deleted: bool = False
    deleted_at: datetime | None = None
    # The row version this copy was read at (None: never stored).
    version: int | None = None
