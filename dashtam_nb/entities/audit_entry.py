"""The AuditEntry entity: one immutable line of the audit log."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from dashtam_nb.ids import uuid7

__all__ = ["AuditEntry"]


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditEntry:
    """Who did what to which resource; frozen because history is not edited.

    ``user_id`` is ``None`` for system actions (migrations, jobs).
    """

    id: UUID = field(default_factory=uuid7)
    action: str
    user_id: UUID | None = None
    resource_type: str
    resource_id: UUID | None = None
    context: dict[str, Any] | None = None
    created_at: datetime | None = None
