"""Soft delete that cannot leak: one global criterion, conditional updates.

Every ORM SELECT through a dashtam session (entity reads, column-only
selects, counts, joins, relationship loads, both paginations, frames) gets
``is_deleted = false`` for each soft-deletable model it touches, added in one
``do_orm_execute`` hook (SQLAlchemy's ``filter_public`` recipe) rather than in
each query. Pass ``execution_options(include_deleted=True)`` to see deleted
rows. Not covered: SQL text and ``session.connection().execute(...)``, which
bypass the ORM; they see every row.

The criterion is ``is_deleted = false`` with a literal ``false``: PostgreSQL
matches it to the partial indexes ``WHERE is_deleted = false``. ``IS false``
does not match them, and neither does ``= $1``, which a prepared statement's
generic plan cannot prove false.

Writes are single conditional statements on the server clock
(``statement_timestamp()``: when the statement ran, not when its transaction
began), and they keep the session's identity map truthful, so a cached
object never resurrects a row the database has hidden.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, event, false, func, inspect, true, update
from sqlalchemy.orm import (
    ORMExecuteState,
    Session,
    attributes,
    with_loader_criteria,
)
from sqlalchemy.sql import ClauseElement

from dashtam_nb.errors import ValidationError, translate
from dashtam_nb.ids import parse_uuid
from dashtam_nb.models.base import SoftDeleteMixin

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Row
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import ColumnElement, Executable

INCLUDE_DELETED = "include_deleted"
"""The execution option that turns the criterion off for one statement."""


def _live(cls: Any) -> ColumnElement[bool]:
    # Called once per class and cached by SQLAlchemy: keep it pure.
    return cls.is_deleted == false()  # type: ignore[no-any-return]


LIVE_ROWS = with_loader_criteria(SoftDeleteMixin, _live, include_aliases=True)
"""The option the hook adds; add it by hand to a statement compiled outside
a session (`pagination` does, for EXPLAIN)."""


def _deleted_in_memory(obj: object) -> bool:
    return inspect(obj).dict.get("is_deleted") is True


class DashtamSession(Session):
    """The sync session class behind every dashtam `AsyncSession`.

    Package-scoped ORM events attach here, so other sessions in the process
    are left alone. ``get`` is the one read that can skip SQL (an identity
    map hit), so it applies the criterion itself.
    """

    def get(self, entity: Any, ident: Any, **kw: Any) -> Any:
        """`Session.get`, hiding a cached soft-deleted object by default."""
        obj = super().get(entity, ident, **kw)
        options = kw.get("execution_options") or {}
        # A cached object may have been loaded with include_deleted, or
        # deleted by this session: the SQL criterion never saw it.
        hidden = isinstance(obj, SoftDeleteMixin) and _deleted_in_memory(obj)
        return None if hidden and not options.get(INCLUDE_DELETED) else obj


@event.listens_for(DashtamSession, "do_orm_execute")
def _hide_soft_deleted(state: ORMExecuteState) -> None:
    # Column and relationship loads inherit the option from the statement
    # that loaded their parent (propagate_to_loaders), so skip them here.
    if (
        state.is_select
        and not state.is_column_load
        and not state.is_relationship_load
        and not state.execution_options.get(INCLUDE_DELETED, False)
    ):
        state.statement = state.statement.options(LIVE_ROWS)


def _check_model(model: object) -> Any:
    if not (isinstance(model, type) and issubclass(model, SoftDeleteMixin)):
        name = getattr(model, "__name__", type(model).__name__)
        raise ValidationError(f"{name} is not soft-deletable", field="model")
    return model


async def _run(session: AsyncSession, stmt: Executable) -> Any:
    try:
        return await session.execute(stmt)
    except Exception as exc:
        raise translate(exc) from None


def _cached(session: AsyncSession, cls: Any) -> bool:
    """Whether the identity map holds any object of ``cls``."""
    return any(isinstance(o, cls) for o in session.sync_session.identity_map.values())


def _sync(session: AsyncSession, cls: Any, rows: Sequence[Row[Any]]) -> None:
    """Copy the new column values onto cached objects, as if just loaded."""
    sync = session.sync_session
    for row in rows:
        values = row._asdict()
        obj = sync.identity_map.get(sync.identity_key(cls, values.pop("id")))
        if obj is not None:
            for key, value in values.items():
                attributes.set_committed_value(obj, key, value)


def _changed(cls: Any) -> list[Any]:
    cols = [cls.id, cls.is_deleted, cls.deleted_at]
    return [*cols, cls.updated_at] if hasattr(cls, "updated_at") else cols


async def soft_delete(session: AsyncSession, model: type[Any], ident: object) -> bool:
    """Mark one row deleted; True only if this call deleted it.

    One conditional UPDATE (``WHERE is_deleted = false``). Of two concurrent
    callers the second blocks on the row lock, re-checks the condition once
    the first commits, matches nothing and gets False; ``deleted_at`` stays
    the winner's.
    """
    cls = _check_model(model)
    uid = parse_uuid(ident)
    stmt = (
        update(cls)
        .where(cls.id == uid, cls.is_deleted == false())
        .values(is_deleted=True, deleted_at=func.statement_timestamp())
        .returning(*_changed(cls))
        .execution_options(synchronize_session=False)
    )
    rows = (await _run(session, stmt)).all()
    _sync(session, cls, rows)
    return bool(rows)


def _check_criteria(criteria: Sequence[object]) -> None:
    if not criteria:
        raise ValidationError(
            "give at least one criterion (refusing to soft-delete every row)",
            field="criteria",
        )
    for c in criteria:
        # A Python bool or a str would be coerced to true()/text: refuse.
        if not isinstance(c, ClauseElement):
            raise ValidationError(
                f"criteria must be SQLAlchemy expressions, not {type(c).__name__}",
                field="criteria",
            )


async def soft_delete_where(
    session: AsyncSession, model: type[Any], *criteria: ColumnElement[bool]
) -> int:
    """Soft-delete every live row matching ``criteria``; returns the count.

    One statement whatever the size (a predicate, not an ``IN`` list, which
    stops at 65,535 parameters). Rows come back only when the session caches
    objects of the model, to update them; otherwise the count is enough.
    """
    cls = _check_model(model)
    _check_criteria(criteria)
    stmt = (
        update(cls)
        .where(cls.is_deleted == false(), *criteria)
        .values(is_deleted=True, deleted_at=func.statement_timestamp())
        .execution_options(synchronize_session=False)
    )
    if not _cached(session, cls):
        return int((await _run(session, stmt)).rowcount)
    rows = (await _run(session, stmt.returning(*_changed(cls)))).all()
    _sync(session, cls, rows)
    return len(rows)


async def restore(session: AsyncSession, model: type[Any], ident: object) -> bool:
    """Bring a soft-deleted row back; True if it was deleted before.

    Raises:
        DuplicateError: a live row took its unique value meanwhile (the email
            was registered again). The statement failed, so the transaction
            must roll back, unless the call ran in a SAVEPOINT, as
            ``SoftDeleteRepository.restore`` does.
    """
    cls = _check_model(model)
    uid = parse_uuid(ident)
    stmt = (
        update(cls)
        .where(cls.id == uid, cls.is_deleted == true())
        .values(is_deleted=False, deleted_at=None)
        .returning(*_changed(cls))
        .execution_options(synchronize_session=False)
    )
    rows = (await _run(session, stmt)).all()
    _sync(session, cls, rows)
    return bool(rows)


def _cutoff(older_than: object) -> Any:
    if isinstance(older_than, timedelta):
        if older_than < timedelta(0):
            raise ValidationError("older_than must not be negative", field="older_than")
        return func.statement_timestamp() - older_than
    if isinstance(older_than, datetime):
        if older_than.tzinfo is None:
            # A naive time would be read in the server's zone: ambiguous.
            raise ValidationError(
                "older_than must be timezone-aware", field="older_than"
            )
        return older_than
    raise ValidationError(
        "older_than must be a timedelta or an aware datetime", field="older_than"
    )


async def purge(
    session: AsyncSession, model: type[Any], *, older_than: timedelta | datetime
) -> int:
    """Hard-delete rows soft-deleted before a cut-off; returns the count.

    Live rows are never touched, whatever the cut-off. Cached copies of
    purged rows are expunged from the session.

    Args:
        session: the caller's session (the purge joins its transaction).
        model: a soft-deletable model.
        older_than: an age (``timedelta(days=30)``, on the server clock) or
            an aware ``datetime`` cut-off.
    """
    cls = _check_model(model)
    stmt = (
        delete(cls)
        .where(cls.is_deleted == true(), cls.deleted_at < _cutoff(older_than))
        .execution_options(synchronize_session=False)
    )
    if not _cached(session, cls):
        return int((await _run(session, stmt)).rowcount)
    ids = (await _run(session, stmt.returning(cls.id))).scalars().all()
    sync = session.sync_session
    for uid in ids:
        obj = sync.identity_map.get(sync.identity_key(cls, uid))
        if obj is not None:
            sync.expunge(obj)
    return len(ids)
