"""The transactions table."""

from datetime import datetime
from decimal import Decimal
from typing import Self
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from dashtam_nb.entities.transaction import Transaction
from dashtam_nb.models.base import SOFT_DELETE_CHECK, BaseMutableModel, SoftDeleteMixin

__all__ = ["TransactionModel"]


class TransactionModel(BaseMutableModel, SoftDeleteMixin):
    """A posted transaction row; soft-deletable so corrections keep history."""

    __tablename__ = "transactions"
    __table_args__ = (
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
        CheckConstraint(SOFT_DELETE_CHECK, name="deleted_at_matches"),
        {"comment": "Posted transactions; soft-deletable"},
    )

    account_id: Mapped[UUID] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"),
        # Plain index besides the live partial one: the cascade and purges
        # must also find soft-deleted rows quickly.
        index=True,
        comment="Account the money moved on",
    )
    amount: Mapped[Decimal] = mapped_column(comment="Signed; negative is a debit")
    currency: Mapped[str] = mapped_column(
        String(3), default="USD", server_default=text("'USD'"), comment="ISO 4217"
    )
    category: Mapped[str] = mapped_column(String(50), comment="Spending category")
    description: Mapped[str] = mapped_column(
        String(255), default="", server_default=text("''"), comment="Free text"
    )
    posted_at: Mapped[datetime] = mapped_column(comment="When the bank booked it")

    def to_entity(self) -> Transaction:
        """Return the domain entity, timestamps included."""
        return Transaction(
            id=self.id,
            account_id=self.account_id,
            amount=self.amount,
            currency=self.currency,
            category=self.category,
            description=self.description,
            posted_at=self.posted_at,
            created_at=self.created_at,
            updated_at=self.updated_at,
            is_deleted=self.is_deleted,
            deleted_at=self.deleted_at,
            version=self.version,
        )

    @classmethod
    def from_entity(cls, transaction: Transaction) -> Self:
        """Build a row from an entity; timestamps and version are left to the ORM.

        ``version`` is never copied: the ORM sets 1 on insert and checks and
        bumps it on update (see `Repository.save`).
        """
        return cls(
            id=transaction.id,
            account_id=transaction.account_id,
            amount=transaction.amount,
            currency=transaction.currency,
            category=transaction.category,
            description=transaction.description,
            posted_at=transaction.posted_at,
            is_deleted=transaction.is_deleted,
            deleted_at=transaction.deleted_at,
        )


# Keyset pages over live rows: per account, and across all accounts.
# "= false" (not "IS false") lets the planner use them for the criterion.
Index(
    "ix_transactions_account_id_posted_at_id_live",
    TransactionModel.account_id,
    TransactionModel.posted_at,
    TransactionModel.id,
    postgresql_where=TransactionModel.is_deleted == false(),
)
Index(
    "ix_transactions_posted_at_id_live",
    TransactionModel.posted_at,
    TransactionModel.id,
    postgresql_where=TransactionModel.is_deleted == false(),
)
