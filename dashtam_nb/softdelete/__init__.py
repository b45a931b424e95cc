"""Soft delete that holds: one global criterion, a cascade, a version check.

Three rules, written down in ``docs/soft-delete.md`` and tested in
``tests/integration/test_softdelete*.py``:

**Hide.** Every SELECT through a dashtam session gets ``is_deleted = false``
for each soft-deletable table it reads, added in one ``do_orm_execute`` hook
rather than in each query. ORM selects (entities, ``select(UserModel.email)``,
counts, joins, relationship loads, pages, frames) get it through
``with_loader_criteria`` (SQLAlchemy's ``filter_public`` recipe). Core selects
of the tables (``select(users.c.email)``, ``select(func.count()).select_from(
users)``) get it too: each soft-deletable table in the statement is replaced
by ``(SELECT * FROM t WHERE is_deleted = false) AS t``, which PostgreSQL
inlines (same plan, same partial indexes); a mixed statement gets both.
`hide_deleted` applies the rule to a statement compiled outside a session. Pass
``execution_options(include_deleted=True)`` to see deleted rows. Not
covered: SQL text and ``session.connection().execute(...)``, which bypass
the session; they see every row.

**Cascade.** Soft-deleting a row soft-deletes its live descendants along the
``ON DELETE CASCADE`` foreign keys (user -> accounts -> transactions), all
stamped with one ``deleted_at``; restore brings back exactly the rows with
that stamp, so rows deleted on their own stay deleted (`dashtam_nb.softdelete.cascade`).

**Conflict.** Every mutable row has a ``version`` (SQLAlchemy's
``version_id_col``); every write here bumps it. A save of a copy read before
a concurrent change or soft delete matches no row and raises `ConflictError`
naming the entity and id, so a save never resurrects a deleted row or
overwrites a change it did not see (`Repository.save`).

The criterion is ``is_deleted = false`` with a literal ``false``: PostgreSQL
matches it to the partial indexes ``WHERE is_deleted = false``. ``IS false``
does not match them, and neither does ``= $1``, which a prepared statement's
generic plan cannot prove false.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, event, false, func, inspect, select, true, update
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria

from dashtam_nb.errors import ValidationError, translate
from dashtam_nb.ids import parse_uuid
from dashtam_nb.models.base import SoftDeleteMixin
from dashtam_nb.softdelete import cascade, live_tables

if TYPE_CHECKING:
    from datetime import datetime, timedelta

    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import ColumnElement, Executable

__all__ = [
    "INCLUDE_DELETED",
    "LIVE_ROWS",
    "DashtamSession",
    "hide_deleted",
    "purge",
    "restore",
    "soft_delete",
    "soft_delete_where",
]

INCLUDE_DELETED = "include_deleted"
"""The execution option that turns the criterion off for one statement."""


def _live(cls: Any) -> ColumnElement[bool]:
    # Called once per class and cached by SQLAlchemy: keep it pure.
    return cls.is_deleted == false()  # type: ignore[no-any-return]


LIVE_ROWS = with_loader_criteria(SoftDeleteMixin, _live, include_aliases=True)
"""The option the hook adds to ORM selects. Outside a session prefer
`hide_deleted`, which also covers Core selects of the tables."""


def _hide(stmt: Any, orm: bool) -> Any:
    # Raw tables get the swap; entities get the criteria, added last (the
    # option itself cannot be copied by the swap).
    raw = live_tables.raw_tables(stmt)
    stmt = live_tables.swap(stmt, raw) if raw else stmt
    return stmt.options(LIVE_ROWS) if orm else stmt


def hide_deleted(stmt: Any) -> Any:
    """``stmt`` with the live-rows criterion, as the session hook would add it.

    For statements compiled outside a session (EXPLAIN, the columnar path);
    ORM entities get `LIVE_ROWS`, raw tables the swap. A statement with
    ``include_deleted=True`` is returned unchanged.
    """
    if stmt.get_execution_options().get(INCLUDE_DELETED, False):
        return stmt
    return _hide(stmt, _is_orm(stmt))


def _is_orm(stmt: Any) -> bool:
    plugin = getattr(stmt, "_propagate_attrs", {}).get("compile_state_plugin")
    return plugin == "orm"


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
        state.statement = _hide(state.statement, state.is_orm_statement)


# -- the writes: conditional statements on the server clock ---------------------


async def _run(session: AsyncSession, stmt: Executable) -> Any:
    try:
        return await session.execute(stmt)
    except Exception as exc:
        # By hand: these functions take a session and are awaited on the
        # owner loop itself (inside a unit of work), where no hop crosses.
        raise translate(exc) from None


async def _write(session: AsyncSession, cls: Any, stmt: Any) -> int:
    """Run one UPDATE; rows come back only to refresh cached objects."""
    stmt = stmt.execution_options(synchronize_session=False)
    if not cascade.holds(session.sync_session, cls):
        return int((await _run(session, stmt)).rowcount)
    rows = (await _run(session, stmt.returning(*cascade.changed(cls)))).all()
    cascade.sync_cached(session.sync_session, cls, rows)
    return len(rows)


async def _steps(session: AsyncSession, steps: list[cascade.Step]) -> None:
    for cls, stmt in steps:
        await _write(session, cls, stmt)


async def soft_delete(session: AsyncSession, model: type[Any], ident: object) -> bool:
    """Mark one row and its live descendants deleted; True only if this call did.

    A conditional UPDATE (``WHERE is_deleted = false``) per table. Of two
    concurrent callers the second blocks on the row lock, re-checks the
    condition once the first commits, matches nothing and gets False;
    ``deleted_at`` stays the winner's.
    """
    cls = cascade.check_model(model)
    uid = parse_uuid(ident)
    stmt = (
        update(cls)
        .where(cls.id == uid, cls.is_deleted == false())
        .values(**cascade.deleting(cls, func.statement_timestamp()))
        .returning(*cascade.changed(cls))
        .execution_options(synchronize_session=False)
    )
    rows = (await _run(session, stmt)).all()
    cascade.sync_cached(session.sync_session, cls, rows)
    if rows:
        stamp = rows[0].deleted_at
        await _steps(session, cascade.deletes_below(cls, [cls.id == uid], stamp))
    return bool(rows)


async def soft_delete_where(
    session: AsyncSession, model: type[Any], *criteria: ColumnElement[bool]
) -> int:
    """Soft-delete every live row matching ``criteria`` (and descendants).

    One statement per table whatever the size (a predicate, not an ``IN``
    list, which stops at 65,535 parameters). Returns how many rows of
    ``model`` this call deleted.
    """
    cls = cascade.check_model(model)
    cascade.check_criteria(criteria)
    stamp: Any = func.statement_timestamp()
    if cascade.children(cls):
        # One time for every table, so the descendants can be found by it.
        stamp = (await _run(session, select(stamp))).scalar_one()
    stmt = update(cls).where(cls.is_deleted == false(), *criteria)
    count = await _write(session, cls, stmt.values(**cascade.deleting(cls, stamp)))
    if count and cascade.children(cls):
        below = cascade.deletes_below(cls, [cls.deleted_at == stamp], stamp)
        await _steps(session, below)
    return count


async def _refuse_orphan(
    session: AsyncSession, cls: Any, values: dict[str, Any]
) -> None:
    for kind, ref, field, query in cascade.parent_checks(cls, values):
        if (await _run(session, query)).scalar():
            raise ValidationError(
                f"cannot restore {cascade.noun(cls)} {values['id']}: its {kind} "
                f"{ref} is deleted; restore the {kind}",
                field=field,
            )


async def restore(session: AsyncSession, model: type[Any], ident: object) -> bool:
    """Bring a soft-deleted row back with the descendants deleted with it.

    True if the row was deleted before. The row is locked first (``FOR
    UPDATE``), so two concurrent restores cannot both cascade.

    Raises:
        ValidationError: its parent is deleted (restore the parent instead).
        DuplicateError: a live row took its unique value meanwhile (the email
            was registered again). The statement failed, so the transaction
            must roll back, unless the call ran in a SAVEPOINT, as
            ``SoftDeleteRepository.restore`` does.
    """
    cls = cascade.check_model(model)
    uid = parse_uuid(ident)
    fks = [fk for _, fk in cascade.parents(cls)]
    query = (
        select(cls.id, cls.deleted_at, *fks)
        .where(cls.id == uid, cls.is_deleted == true())
        .with_for_update()
        .execution_options(**cascade.SEE_ALL)
    )
    found = (await _run(session, query)).one_or_none()
    if found is None:
        return False
    values = found._asdict()
    await _refuse_orphan(session, cls, values)
    stmt = update(cls).where(cls.id == uid, cls.is_deleted == true())
    await _write(session, cls, stmt.values(**cascade.restoring(cls)))
    below = cascade.restores_below(cls, [cls.id == uid], values["deleted_at"])
    await _steps(session, below)
    return True


async def purge(
    session: AsyncSession, model: type[Any], *, older_than: timedelta | datetime
) -> int:
    """Hard-delete rows soft-deleted before a cut-off; returns the count.

    Live rows are never touched, whatever the cut-off; descendants go by
    ``ON DELETE CASCADE``. Cached copies of purged rows are expunged.

    Args:
        session: the caller's session (the purge joins its transaction).
        model: a soft-deletable model.
        older_than: an age (``timedelta(days=30)``, on the server clock) or
            an aware ``datetime`` cut-off.
    """
    cls = cascade.check_model(model)
    when = cascade.cutoff(older_than)
    stmt = (
        delete(cls)
        .where(cls.is_deleted == true(), cls.deleted_at < when)
        .execution_options(synchronize_session=False)
    )
    if not cascade.holds(session.sync_session, SoftDeleteMixin):
        return int((await _run(session, stmt)).rowcount)
    ids = set((await _run(session, stmt.returning(cls.id))).scalars().all())
    cascade.expunge(session.sync_session, cls, ids)
    return len(ids)
