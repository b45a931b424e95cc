"""The audit_logs table, append-only, and its ORM-level guard."""

from typing import Any, Self
from uuid import UUID

from sqlalchemy import Index, String, event
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column

from dashtam_nb.entities.audit_entry import AuditEntry
from dashtam_nb.errors import ImmutableRecordError
from dashtam_nb.models.base import BaseModel

__all__ = ["AuditLogModel"]


class AuditLogModel(BaseModel):
    """An audit row: no ``updated_at``, never updated or deleted.

    Two guards: ``_refuse_audit_changes`` stops the ORM before any SQL, and a
    database trigger (created by the migrations) stops everything else.
    """

    __tablename__ = "audit_logs"
    __table_args__ = ({"comment": "Append-only audit trail"},)

    action: Mapped[str] = mapped_column(String(100), comment="What happened")
    user_id: Mapped[UUID | None] = mapped_column(
        # No foreign key: the trail must outlive the users it mentions.
        comment="Actor; NULL for system actions",
    )
    resource_type: Mapped[str] = mapped_column(
        String(50), comment="Kind of thing acted on, e.g. 'user'"
    )
    resource_id: Mapped[UUID | None] = mapped_column(
        comment="Thing acted on; NULL for global actions"
    )
    context: Mapped[dict[str, Any] | None] = mapped_column(
        comment="Extra details as JSONB; never secrets"
    )

    def to_entity(self) -> AuditEntry:
        """Return the domain entity, ``created_at`` included."""
        return AuditEntry(
            id=self.id,
            action=self.action,
            user_id=self.user_id,
            resource_type=self.resource_type,
            resource_id=self.resource_id,
            context=self.context,
            created_at=self.created_at,
        )

    @classmethod
    def from_entity(cls, entry: AuditEntry) -> Self:
        """Build a row from an entity; ``created_at`` is left to the database."""
        return cls(
            id=entry.id,
            action=entry.action,
            user_id=entry.user_id,
            resource_type=entry.resource_type,
            resource_id=entry.resource_id,
            context=entry.context,
        )


# "History of this resource, in order": the audit log's main question.
Index(
    "ix_audit_logs_resource_type_resource_id_created_at",
    AuditLogModel.resource_type,
    AuditLogModel.resource_id,
    AuditLogModel.created_at,
)


@event.listens_for(Session, "before_flush")
def _refuse_audit_changes(
    session: Session, _flush_context: UOWTransaction, _instances: Any
) -> None:
    """Raise before any SQL if a flush would update or delete an audit row.

    Class-level on ``Session`` so it covers every session, including the sync
    session behind each ``AsyncSession``. ``is_modified`` skips rows that are
    merely in ``dirty`` without a real change.

    Raises:
        ImmutableRecordError: If an audit row is modified or deleted.
    """
    for obj in session.deleted:
        if isinstance(obj, AuditLogModel):
            raise ImmutableRecordError(
                f"audit_logs rows are append-only: cannot delete {obj.id}"
            )
    for obj in session.dirty:
        if isinstance(obj, AuditLogModel) and session.is_modified(obj):
            raise ImmutableRecordError(
                f"audit_logs rows are append-only: cannot update {obj.id}"
            )
