"""Soft delete that cannot leak: one global criterion, conditional updates.

Every ORM SELECT through a dashtam session (entity reads, column-only
selects, counts, relationship loads, both paginations, frames) gets
``is_deleted = false`` for each soft-deletable model it touches, added in one
``do_orm_execute`` hook (SQLAlchemy's ``filter_public`` recipe) rather than in
each query. The criterion is written ``= false``, never ``IS false``: only the
former lets PostgreSQL use the partial indexes on live rows. Pass
``execution_options(include_deleted=True)`` to see deleted rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, event, false, func, true, update
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from dashtam_nb.errors import ValidationError
from dashtam_nb.ids import parse_uuid
from dashtam_nb.models.base import SoftDeleteMixin

if TYPE_CHECKING:
    from uuid import UUID

    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import ColumnElement

INCLUDE_DELETED = "include_deleted"


class DashtamSession(Session):
    """The sync session class behind every dashtam `AsyncSession`.

    Package-scoped ORM events attach here, so other sessions in the same
    process are left alone.
    """


def _live(cls: Any) -> ColumnElement[bool]:
    # Called once per class and cached: keep it a pure expression.
    return cls.is_deleted == false()  # type: ignore[no-any-return]


LIVE_ROWS = with_loader_criteria(SoftDeleteMixin, _live, include_aliases=True)
"""The option the hook adds; usable by hand on Core-compiled statements."""


@event.listens_for(DashtamSession, "do_orm_execute")
def _hide_soft_deleted(state: ORMExecuteState) -> None:
    if (
        state.is_select
        and not state.is_column_load
        and not state.is_relationship_load
        and not state.execution_options.get(INCLUDE_DELETED, False)
    ):
        state.statement = state.statement.options(LIVE_ROWS)


def _check_model(model: type[Any]) -> type[SoftDeleteMixin]:
    if not (isinstance(model, type) and issubclass(model, SoftDeleteMixin)):
        raise ValidationError(
            f"{getattr(model, '__name__', model)!s} is not soft-deletable",
            field="model",
        )
    return model


def _forget(session: AsyncSession, model: type[Any], ident: UUID) -> None:
    """Drop a cached copy so a later ``get`` asks the database again."""
    sync = session.sync_session
    obj = sync.identity_map.get(sync.identity_key(model, ident))
    if obj is not None:
        sync.expunge(obj)


async def soft_delete(session: AsyncSession, model: type[Any], ident: object) -> bool:
    """Mark one row deleted; True only if this call deleted it.

    One conditional UPDATE (``WHERE is_deleted = false``): of two concurrent
    callers exactly one wins, and ``deleted_at`` is the winner's server time.
    """
    cls = _check_model(model)
    uid = parse_uuid(ident)
    stmt = (
        update(cls)
        .where(cls.id == uid, cls.is_deleted == false())  # type: ignore[attr-defined]
        .values(is_deleted=True, deleted_at=func.now())
        .returning(cls.id)  # type: ignore[attr-defined]
        .execution_options(synchronize_session=False)
    )
    won = (await session.execute(stmt)).first() is not None
    _forget(session, cls, uid)
    return won


async def soft_delete_where(
    session: AsyncSession, model: type[Any], *criteria: ColumnElement[bool]
) -> int:
    """Soft-delete every live row matching ``criteria``; returns the count.

    A predicate, not a list of ids: one statement whatever the size (an
    ``IN`` list stops at 65,535 parameters).
    """
    cls = _check_model(model)
    if not criteria:
        raise ValidationError(
            "give at least one criterion (refusing to soft-delete every row)",
            field="criteria",
        )
    stmt = (
        update(cls)
        .where(cls.is_deleted == false(), *criteria)
        .values(is_deleted=True, deleted_at=func.now())
        .execution_options(synchronize_session=False)
    )
    result: Any = await session.execute(stmt)
    session.sync_session.expunge_all()
    return int(result.rowcount)


async def restore(session: AsyncSession, model: type[Any], ident: object) -> bool:
    """Bring a soft-deleted row back; True if it was deleted before.

    Raises `DuplicateError` (on flush/commit) when a live row took its unique
    value meanwhile, e.g. the email was registered again.
    """
    cls = _check_model(model)
    uid = parse_uuid(ident)
    stmt = (
        update(cls)
        .where(cls.id == uid, cls.is_deleted == true())  # type: ignore[attr-defined]
        .values(is_deleted=False, deleted_at=None)
        .returning(cls.id)  # type: ignore[attr-defined]
        .execution_options(synchronize_session=False)
    )
    done = (await session.execute(stmt)).first() is not None
    _forget(session, cls, uid)
    return done


async def purge(
    session: AsyncSession, model: type[Any], *, older_than: timedelta | datetime
) -> int:
    """Hard-delete rows soft-deleted before a cut-off; returns the count.

    Args:
        session: the caller's session (the purge joins its transaction).
        model: a soft-deletable model.
        older_than: an age (``timedelta(days=30)``, measured on the server
            clock) or an aware ``datetime`` cut-off.
    """
    cls = _check_model(model)
    if isinstance(older_than, timedelta):
        if older_than < timedelta(0):
            raise ValidationError("older_than must not be negative", field="older_than")
        cutoff: Any = func.now() - older_than
    elif isinstance(older_than, datetime):
        if older_than.tzinfo is None:
            raise ValidationError(
                "older_than must be timezone-aware", field="older_than"
            )
        cutoff = older_than
    else:
        raise ValidationError(
            "older_than must be a timedelta or an aware datetime", field="older_than"
        )
    stmt = (
        delete(cls)
        .where(cls.is_deleted == true(), cls.deleted_at < cutoff)
        .execution_options(synchronize_session=False)
    )
    result: Any = await session.execute(stmt)
    return int(result.rowcount)
