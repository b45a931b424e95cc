"""Plain domain dataclasses: no SQLAlchemy, no I/O, easy to build in tests."""

from dashtam_nb.entities.account import ACCOUNT_TYPES, Account, AccountType
from dashtam_nb.entities.audit_entry import AuditEntry
from dashtam_nb.entities.transaction import Transaction
from dashtam_nb.entities.user import MAX_EMAIL_LENGTH, User, validate_email

__all__ = [
    "ACCOUNT_TYPES",
    "MAX_EMAIL_LENGTH",
    "Account",
    "AccountType",
    "AuditEntry",
    "Transaction",
    "User",
    "validate_email",
]
