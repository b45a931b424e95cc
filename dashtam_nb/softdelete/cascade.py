"""What soft delete, restore and purge touch: the cascade, in pure functions.

The cascade policy: a soft delete goes where a hard delete would go. Every
soft-deletable model with an ``ON DELETE CASCADE`` foreign key to another
soft-deletable model is its child (accounts of a user, transactions of an
account), found from the metadata, never listed by hand. Soft-deleting a row
stamps it and its still-live descendants with one ``deleted_at``; restoring
it brings back exactly the descendants carrying that stamp, so rows deleted
on their own before (at another time) stay deleted. A child whose parent is
deleted cannot be restored alone, nor saved (`parent_checks`).

This module builds statements and keeps the identity map truthful; it does
no I/O. `dashtam_nb.softdelete` runs the statements. Every UPDATE bumps
``version``, so a copy read before is stale and its save is refused.
"""

from __future__ import annotations

import functools
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import false, func, select, true, update
from sqlalchemy.orm import attributes
from sqlalchemy.sql import ClauseElement

from dashtam_nb.errors import ValidationError
from dashtam_nb.models.base import Base, SoftDeleteMixin

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sqlalchemy.engine import Row
    from sqlalchemy.orm import Session
    from sqlalchemy.sql import Select

__all__ = [
    "changed",
    "check_criteria",
    "check_model",
    "children",
    "cutoff",
    "deletes_below",
    "deleting",
    "expunge",
    "holds",
    "noun",
    "parent_checks",
    "parents",
    "restores_below",
    "restoring",
    "sync_cached",
]

SEE_ALL = {"include_deleted": True}
Link = tuple[Any, Any]
"""(model, foreign-key attribute of that model)."""
Step = tuple[Any, Any]
"""(model, UPDATE statement), run in order."""


def noun(model: Any) -> str:
    """``UserModel`` -> ``user``: how messages name a row's kind."""
    return str(model.__name__).removesuffix("Model").lower()


@functools.cache
def _links() -> tuple[tuple[Any, Any, Any], ...]:
    """(parent, child, child's fk attribute) for every soft-delete cascade."""
    found = []
    models: dict[Any, Any] = {m.local_table: m.class_ for m in Base.registry.mappers}
    for table, child in models.items():
        if not issubclass(child, SoftDeleteMixin):
            continue
        for fk in table.foreign_keys:
            parent = models.get(fk.column.table)
            soft = parent is not None and issubclass(parent, SoftDeleteMixin)
            if fk.ondelete == "CASCADE" and soft:
                found.append((parent, child, getattr(child, fk.parent.key)))
    return tuple(found)


def children(model: Any) -> list[Link]:
    """Soft-deletable models whose rows are deleted and restored with ``model``'s."""
    return [(c, fk) for p, c, fk in _links() if p is model]


def parents(model: Any) -> list[Link]:
    """(parent model, fk attribute of ``model``) for each soft-deletable parent."""
    return [(p, fk) for p, c, fk in _links() if c is model]


def check_model(model: object) -> Any:
    """The model, if soft-deletable; else `ValidationError` before any SQL."""
    if not (isinstance(model, type) and issubclass(model, SoftDeleteMixin)):
        name = getattr(model, "__name__", type(model).__name__)
        raise ValidationError(f"{name} is not soft-deletable", field="model")
    return model


def check_criteria(criteria: Sequence[object]) -> None:
    """At least one criterion, each a SQLAlchemy expression (never text)."""
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


def cutoff(older_than: object) -> Any:
    """A purge cut-off: an age on the server clock or an aware datetime."""
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


def changed(cls: Any) -> list[Any]:
    """The columns a soft delete or restore changes (RETURNING them)."""
    return [cls.id, cls.is_deleted, cls.deleted_at, cls.updated_at, cls.version]


def deleting(cls: Any, stamp: Any) -> dict[str, Any]:
    """SET values of a soft delete (``updated_at`` moves by its ``onupdate``)."""
    return {"is_deleted": True, "deleted_at": stamp, "version": cls.version + 1}


def restoring(cls: Any) -> dict[str, Any]:
    """SET values of a restore."""
    return {"is_deleted": False, "deleted_at": None, "version": cls.version + 1}


def deletes_below(parent: Any, where: list[Any], stamp: Any) -> list[Step]:
    """UPDATEs stamping the live descendants of the ``parent`` rows in ``where``.

    Built up front: each level picks its rows by a subquery on the level
    above (``fk IN (SELECT id ... WHERE deleted_at = stamp)``), not by ids
    fetched into Python, so one statement per table covers any number.
    """
    steps: list[Step] = []
    for child, fk in children(parent):
        picked = fk.in_(select(parent.id).where(*where))
        stmt = update(child).where(picked, child.is_deleted == false())
        steps.append((child, stmt.values(**deleting(child, stamp))))
        steps += deletes_below(child, [picked, child.deleted_at == stamp], stamp)
    return steps


def restores_below(parent: Any, where: list[Any], stamp: Any) -> list[Step]:
    """UPDATEs bringing back descendants of live ``parent`` rows carrying ``stamp``."""
    steps: list[Step] = []
    for child, fk in children(parent):
        picked = fk.in_(select(parent.id).where(*where, parent.is_deleted == false()))
        stmt = update(child).where(
            picked, child.is_deleted == true(), child.deleted_at == stamp
        )
        steps.append((child, stmt.values(**restoring(child))))
        steps += restores_below(child, [picked], stamp)
    return steps


def parent_checks(
    model: Any, values: dict[str, Any]
) -> list[tuple[str, Any, str, Select[Any]]]:
    """(parent noun, parent id, fk field, "is it deleted?" query) per parent."""
    checks = []
    for parent, fk in parents(model):
        ref = values.get(fk.key)
        if ref is not None:
            stmt = select(parent.is_deleted).where(parent.id == ref)
            checks.append(
                (noun(parent), ref, fk.key, stmt.execution_options(**SEE_ALL))
            )
    return checks


def holds(session: Session, cls: Any) -> bool:
    """Whether the identity map holds any object of ``cls``."""
    return any(isinstance(o, cls) for o in session.identity_map.values())


def sync_cached(session: Session, cls: Any, rows: Sequence[Row[Any]]) -> None:
    """Copy new column values onto cached objects, as if just loaded."""
    for row in rows:
        values = row._asdict()
        obj = session.identity_map.get(session.identity_key(cls, values.pop("id")))
        if obj is not None:
            for key, value in values.items():
                attributes.set_committed_value(obj, key, value)


def expunge(session: Session, cls: Any, gone: set[Any]) -> None:
    """Expunge cached purged rows and descendants ``ON DELETE CASCADE`` took."""
    for uid in gone:
        obj = session.identity_map.get(session.identity_key(cls, uid))
        if obj is not None:
            session.expunge(obj)
    for child, fk in children(cls):
        cached = [o for o in session.identity_map.values() if isinstance(o, child)]
        hit = {o.id for o in cached if getattr(o, fk.key) in gone}
        if hit:
            expunge(session, child, hit)
