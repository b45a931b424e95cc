"""Repository Protocols: what the application layer needs, not how it is stored.

Handlers depend on these, so a unit test can pass an ``AsyncMock`` or an
in-memory fake, and the SQLAlchemy repositories satisfy them structurally.
Method names follow the guide (``save``, ``find_by_id``, ``find_by_email``,
``delete``); ``save`` returns the stored entity with its timestamps.
"""

from typing import Protocol, runtime_checkable
from uuid import UUID

from dashtam_nb.entities import Account, AuditEntry, Transaction, User

__all__ = [
    "AccountRepository",
    "AuditLogRepository",
    "TransactionRepository",
    "UserRepository",
]


@runtime_checkable
class UserRepository(Protocol):
    """Persistence of users."""

    async def save(self, user: User) -> User:
        """Insert or update ``user`` and return it as stored."""
        ...

    async def find_by_id(self, user_id: UUID) -> User | None:
        """Return the live user with this id, or None."""
        ...

    async def find_by_email(self, email: str) -> User | None:
        """Return the live user with this email, or None."""
        ...

    async def delete(self, user: User) -> None:
        """Remove ``user``; a missing user is not an error."""
        ...


@runtime_checkable
class AccountRepository(Protocol):
    """Persistence of accounts."""

    async def save(self, account: Account) -> Account:
        """Insert or update ``account`` and return it as stored."""
        ...

    async def find_by_id(self, account_id: UUID) -> Account | None:
        """Return the account with this id, or None."""
        ...

    async def find_by_user_id(self, user_id: UUID) -> list[Account]:
        """Return the accounts of one user."""
        ...

    async def delete(self, account: Account) -> None:
        """Remove ``account``; a missing account is not an error."""
        ...


@runtime_checkable
class TransactionRepository(Protocol):
    """Persistence of transactions."""

    async def save(self, transaction: Transaction) -> Transaction:
        """Insert or update ``transaction`` and return it as stored."""
        ...

    async def find_by_id(self, transaction_id: UUID) -> Transaction | None:
        """Return the live transaction with this id, or None."""
        ...

    async def find_by_account_id(self, account_id: UUID) -> list[Transaction]:
        """Return the live transactions of one account, oldest posting first."""
        ...

    async def delete(self, transaction: Transaction) -> None:
        """Remove ``transaction``; a missing transaction is not an error."""
        ...


@runtime_checkable
class AuditLogRepository(Protocol):
    """Append-only persistence of audit entries: no update, no delete."""

    async def append(self, entry: AuditEntry) -> AuditEntry:
        """Store ``entry`` and return it with its ``created_at``."""
        ...

    async def find_by_resource(
        self, resource_type: str, resource_id: UUID
    ) -> list[AuditEntry]:
        """Return the history of one resource, oldest first."""
        ...
