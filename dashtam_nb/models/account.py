"""The accounts table."""

from decimal import Decimal
from typing import Self
from uuid import UUID

from sqlalchemy import CheckConstraint, ForeignKey, String, text
from sqlalchemy.orm import Mapped, mapped_column

from dashtam_nb.entities.account import ACCOUNT_TYPES, Account
from dashtam_nb.models.base import SOFT_DELETE_CHECK, BaseMutableModel, SoftDeleteMixin

__all__ = ["AccountModel"]

_TYPES_SQL = ", ".join(f"'{kind}'" for kind in ACCOUNT_TYPES)


class AccountModel(BaseMutableModel, SoftDeleteMixin):
    """A financial account row; soft-deleted and restored with its user.

    Closing an account is a business state, not a deletion. Deleting follows
    the foreign keys both ways: a hard delete of the user removes the accounts
    (``ON DELETE CASCADE``), a soft delete of the user stamps them with the
    user's ``deleted_at`` (`dashtam_nb.softdelete`), and restore undoes it.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint(f"account_type IN ({_TYPES_SQL})", name="account_type"),
        CheckConstraint("currency ~ '^[A-Z]{3}$'", name="currency_iso4217"),
        CheckConstraint(SOFT_DELETE_CHECK, name="deleted_at_matches"),
        {"comment": "Financial accounts owned by users; soft-deletable"},
    )

    user_id: Mapped[UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"),
        index=True,
        comment="Owner; indexed for per-user lists and the cascade",
    )
    name: Mapped[str] = mapped_column(String(100), comment="Display name")
    institution: Mapped[str] = mapped_column(String(100), comment="Bank or broker")
    account_type: Mapped[str] = mapped_column(
        String(20), comment="checking, savings, credit or brokerage"
    )
    currency: Mapped[str] = mapped_column(
        String(3),
        default="USD",
        server_default=text("'USD'"),
        comment="ISO 4217 code",
    )
    balance: Mapped[Decimal] = mapped_column(
        default=Decimal("0.00"),
        server_default=text("0"),
        comment="Current balance; Numeric, never float",
    )

    def to_entity(self) -> Account:
        """Return the domain entity, timestamps included."""
        return Account(
            id=self.id,
            user_id=self.user_id,
            name=self.name,
            institution=self.institution,
            # The CHECK constraint guarantees one of ACCOUNT_TYPES.
            account_type=self.account_type,  # type: ignore[arg-type]
            currency=self.currency,
            balance=self.balance,
            created_at=self.created_at,
            updated_at=self.updated_at,
            is_deleted=self.is_deleted,
            deleted_at=self.deleted_at,
            version=self.version,
        )

    @classmethod
    def from_entity(cls, account: Account) -> Self:
        """Build a row from an entity; timestamps and version are left to the ORM.

        ``version`` is never copied: the ORM sets 1 on insert and checks and
        bumps it on update (see `Repository.save`).
        """
        return cls(
            id=account.id,
            user_id=account.user_id,
            name=account.name,
            institution=account.institution,
            account_type=account.account_type,
            currency=account.currency,
            balance=account.balance,
            is_deleted=account.is_deleted,
            deleted_at=account.deleted_at,
        )
