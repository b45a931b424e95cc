"""AuditLogRepository: append and query only; history is never edited."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from dashtam_nb.entities.audit_entry import AuditEntry
from dashtam_nb.errors import (
    DuplicateError,
    ImmutableRecordError,
    ValidationError,
    translate,
)
from dashtam_nb.ids import parse_uuid
from dashtam_nb.models.audit_log import AuditLogModel
from dashtam_nb.repositories.base import Repository
from dashtam_nb.session import hops

if TYPE_CHECKING:
    from uuid import UUID

    import pandas as pd
    from sqlalchemy.sql import Select

__all__ = ["AuditLogRepository"]


def _text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise ValidationError(f"{name} must be 1 to {limit} characters", field=name)
    return value


class AuditLogRepository(Repository[AuditEntry, AuditLogModel]):
    """The audit trail: `append` and reads; `delete` and updates are refused.

    Three guards keep it append-only: this class (no update path, `delete`
    raises before SQL), an ORM ``before_flush`` hook, and a database trigger.
    """

    model = AuditLogModel
    entity = AuditEntry

    def _validate(self, entity: AuditEntry) -> AuditEntry:
        _text(entity.action, "action", 100)
        _text(entity.resource_type, "resource_type", 50)
        if entity.user_id is not None:
            parse_uuid(entity.user_id, field="user_id")
        if entity.resource_id is not None:
            parse_uuid(entity.resource_id, field="resource_id")
        return entity

    @hops
    async def append(self, entry: AuditEntry) -> AuditEntry:
        """Store a new entry and return it with the server's ``created_at``.

        Raises:
            ImmutableRecordError: if an entry with this id exists (an append
                can never overwrite history).
        """
        entry = self._validate(self._check_entity(entry))
        row = AuditLogModel.from_entity(entry)
        row.id = parse_uuid(entry.id)
        try:
            async with self._db.begin_nested():
                self._db.add(row)
                await self._db.flush()
        except IntegrityError as exc:
            # By hand: a duplicate id must become ImmutableRecordError, which
            # the hop's generic mapping cannot know.
            mapped = translate(exc)
            if isinstance(mapped, DuplicateError) and mapped.field == "id":
                raise ImmutableRecordError(
                    f"audit entry {row.id} already exists; entries cannot change"
                ) from None
            raise mapped from None
        return row.to_entity()

    @hops
    async def save(self, entity: AuditEntry) -> AuditEntry:
        """The guide's verb; for the audit log it is `append` (insert only)."""
        return await self.append(entity)

    @hops
    async def delete(self, entity_or_id: AuditEntry | UUID | str) -> None:  # noqa: ARG002
        """Refused without SQL: audit entries are never deleted.

        Raises:
            ImmutableRecordError: always.
        """
        raise ImmutableRecordError("audit_logs rows are append-only: cannot delete")

    def _of_resource(
        self, resource_type: object, resource_id: object, stmt: Select[Any]
    ) -> Select[Any]:
        kind = _text(resource_type, "resource_type", 50)
        stmt = stmt.where(AuditLogModel.resource_type == kind)
        if resource_id is None:
            stmt = stmt.where(AuditLogModel.resource_id.is_(None))
        else:
            uid = parse_uuid(resource_id, field="resource_id")
            stmt = stmt.where(AuditLogModel.resource_id == uid)
        # created_at ties within a transaction; UUIDv7 ids keep append order.
        return stmt.order_by(*self._order("created_at"))

    @hops
    async def find_by_resource(
        self, resource_type: str, resource_id: UUID | str | None
    ) -> list[AuditEntry]:
        """The history of one resource, oldest first (None: global actions)."""
        return await self._entities(
            self._of_resource(resource_type, resource_id, self._select())
        )

    @hops
    async def find_by_resource_frame(
        self, resource_type: str, resource_id: UUID | str | None
    ) -> pd.DataFrame:
        """`find_by_resource` as a DataFrame (``context`` as JSON text)."""
        names, stmt = self._columns()
        return await self._frame(
            names, self._of_resource(resource_type, resource_id, stmt)
        )
