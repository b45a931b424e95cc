"""SQLAlchemy models, one module per table; each maps to and from its entity."""

from dashtam_nb.models.account import AccountModel
from dashtam_nb.models.audit_log import AuditLogModel
from dashtam_nb.models.base import Base, BaseModel, BaseMutableModel, SoftDeleteMixin
from dashtam_nb.models.transaction import TransactionModel
from dashtam_nb.models.user import UserModel

__all__ = [
    "AccountModel",
    "AuditLogModel",
    "Base",
    "BaseModel",
    "BaseMutableModel",
    "SoftDeleteMixin",
    "TransactionModel",
    "UserModel",
]
