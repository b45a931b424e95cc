"""Repositories: entities in and out of PostgreSQL; they flush, never commit.

Construct one per session, as the guide does: ``UserRepository(session)``.
Reads returning entities are ``find_*``; their DataFrame twins end in
``_frame``; pages come from ``paginate`` (offset) and ``paginate_after``
(keyset) and carry their own ``.frame``.
"""

from dashtam_nb.repositories.account import AccountRepository
from dashtam_nb.repositories.audit_log import AuditLogRepository
from dashtam_nb.repositories.base import Repository
from dashtam_nb.repositories.soft_delete import SoftDeleteRepository
from dashtam_nb.repositories.transaction import TransactionRepository
from dashtam_nb.repositories.user import UserRepository

__all__ = [
    "AccountRepository",
    "AuditLogRepository",
    "Repository",
    "SoftDeleteRepository",
    "TransactionRepository",
    "UserRepository",
]
