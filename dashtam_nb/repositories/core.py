"""The repositories' shared machinery: mapping, validation hooks, frame reads.

Kept apart from `base.Repository` (the public methods) so each module stays
short; nothing here does I/O except the small private read helpers, which
always run inside an already hopped public method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sqlalchemy import Text, Uuid, inspect, select
from sqlalchemy import cast as cast_

from dashtam_nb import frames
from dashtam_nb.checks import check_bool
from dashtam_nb.errors import ConflictError, ValidationError
from dashtam_nb.ids import parse_uuid
from dashtam_nb.io import fetch as columnar
from dashtam_nb.models.base import BaseModel
from dashtam_nb.pagination import sort_column
from dashtam_nb.session import real_session
from dashtam_nb.softdelete import INCLUDE_DELETED, cascade

if TYPE_CHECKING:
    from collections.abc import Sequence
    from uuid import UUID

    import pandas as pd
    from sqlalchemy.ext.asyncio import AsyncSession
    from sqlalchemy.sql import Select

    from dashtam_nb.session import HoppingSession

__all__ = ["EntityT", "ModelT", "RepositoryCore", "check_limit"]

EntityT = TypeVar("EntityT")
ModelT = TypeVar("ModelT", bound=BaseModel)


def check_limit(limit: object) -> int | None:
    """Validate an optional row limit before any SQL (None means all rows)."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValidationError("limit must be a positive integer or None", field="limit")
    return limit


class RepositoryCore(Generic[EntityT, ModelT]):
    """State and private helpers of every repository (see `base.Repository`).

    Args:
        session: the caller's session (an `AsyncSession` or the notebook's
            `HoppingSession`); the repository never commits it.
    """

    model: type[ModelT]
    entity: type[EntityT]

    def __init__(self, session: AsyncSession | HoppingSession) -> None:
        self._session = session

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._session!r})"

    # -- mapping and validation (no I/O) ------------------------------------

    @property
    def _db(self) -> AsyncSession:
        # Method bodies already run on the owner loop: use the real session.
        return real_session(self._session)

    def _to_entity(self, row: ModelT) -> EntityT:
        return cast("EntityT", cast("Any", row).to_entity())

    def _to_row(self, entity: EntityT) -> ModelT:
        return cast("ModelT", cast("Any", self.model).from_entity(entity))

    def _entities_frame(self, items: list[EntityT]) -> pd.DataFrame:
        return frames.to_frame(items, self.entity, model=self.model)

    # -- the write half of save (one savepoint, called by `Repository.save`) ----

    def _conflict(self, uid: UUID, what: str) -> ConflictError:
        return ConflictError(
            f"{cascade.noun(self.model)} {uid} {what}; read it again and retry"
        )

    async def _write(self, entity: EntityT, row: ModelT, existing: Any) -> ModelT:
        """Add ``row`` or copy its fields onto ``existing``; flush comes after.

        Checks before SQL: the entity's version against the row's (a stale
        copy is a `ConflictError` at once), the deletion state, and that a
        soft-deletable parent is live. The flush's ``WHERE version = ...``
        then catches a change committed after the row was read.
        """
        version = getattr(entity, "version", None)
        versioned = inspect(self.model).version_id_col is not None
        uid = row.id
        if existing is None:
            if versioned and version is not None:
                # Read once, gone now: re-inserting would resurrect a purge.
                raise self._conflict(uid, "no longer exists (purged or deleted)")
            await self._check_parents(row, None)
            self._db.add(row)
            return row
        if versioned and version != existing.version:
            said = "was never read (new entity)" if version is None else "is stale"
            raise self._conflict(
                uid, f"{said}: version {version}, row at {existing.version}"
            )
        if bool(getattr(entity, "is_deleted", False)) != bool(
            getattr(existing, "is_deleted", False)
        ):
            raise ValidationError(
                "is_deleted changes only through soft_delete() and restore()",
                field="is_deleted",
            )
        await self._check_parents(row, existing)
        for key in self._copied(row):
            setattr(existing, key, getattr(row, key))
        return cast("ModelT", existing)

    def _copied(self, row: ModelT) -> list[str]:
        """Columns a save may change: not the id, timestamps, version or state."""
        fixed = {"id", "created_at", "updated_at", "version", "is_deleted"}
        fixed.add("deleted_at")
        loaded = inspect(row).dict
        return [
            a.key
            for a in inspect(self.model).column_attrs
            if a.key not in fixed and a.key in loaded
        ]

    async def _check_parents(self, row: ModelT, existing: Any) -> None:
        links = cascade.parents(self.model)
        values = {
            fk.key: getattr(row, fk.key)
            for _, fk in links
            if existing is None or getattr(existing, fk.key) != getattr(row, fk.key)
        }
        for kind, ref, field, query in cascade.parent_checks(self.model, values):
            if await self._db.scalar(query):
                raise ValidationError(
                    f"{kind} {ref} is deleted: restore it before adding or "
                    f"moving a {cascade.noun(self.model)} to it",
                    field=field,
                )

    def _check_entity(self, entity: object) -> EntityT:
        if not isinstance(entity, self.entity):
            raise ValidationError(
                f"expected a {self.entity.__name__}, got {type(entity).__name__}",
                field="entity",
            )
        return entity

    def _validate(self, entity: EntityT) -> EntityT:
        """Check (and normalise) fields before SQL; the base accepts all."""
        return entity

    def _ident(self, entity_or_id: object) -> UUID:
        """The id of an entity, or a UUID / UUID string, parsed strictly."""
        if isinstance(entity_or_id, self.entity):
            entity_or_id = cast("Any", entity_or_id).id
        return parse_uuid(entity_or_id)

    def _select(self, include_deleted: bool = False) -> Select[Any]:
        return select(self.model).execution_options(
            **{INCLUDE_DELETED: check_bool(include_deleted, "include_deleted")}
        )

    def _order(self, sort: object, descending: bool = False) -> tuple[Any, Any]:
        col = sort_column(self.model, sort)
        key = cast("Any", self.model).id
        return (col.desc(), key.desc()) if descending else (col, key)

    def _columns(self, include_secrets: bool = False) -> tuple[list[str], Select[Any]]:
        """Frame column names and a column-only select of them.

        UUID columns are selected as text: PostgreSQL's canonical form is
        ``str(uuid)``, and it spares building (then printing) a UUID object
        per cell, the slowest step of a large frame.
        """
        names = frames.frame_columns(self.entity, include_secrets=include_secrets)
        cols = []
        for name in names:
            col = getattr(self.model, name)
            if isinstance(col.type, Uuid):
                col = cast_(col, Text).label(name)
            cols.append(col)
        return names, select(*cols)

    async def _frame(
        self,
        names: Sequence[str],
        stmt: Select[*tuple[Any, ...]],
        include_deleted: bool = False,
    ) -> pd.DataFrame:
        """A column select as a DataFrame, through `columnar.fetch_frame`.

        Small results take the row path on the session's connection; large
        ones the columnar (ADBC) path on the session's snapshot. Both apply
        the same global live-rows criterion and give identical dtypes.
        """
        frame = await columnar.afetch_frame(
            self._db, stmt, include_deleted=include_deleted
        )
        return frame[list(names)]

    async def _entities(self, stmt: Select[Any]) -> list[EntityT]:
        return [self._to_entity(row) for row in await self._db.scalars(stmt)]

    def _forget(self, uid: UUID) -> None:
        """Drop a cached copy so a later read asks the database again."""
        sync = self._db.sync_session
        cached = sync.identity_map.get(sync.identity_key(self.model, uid))
        if cached is not None:
            sync.expunge(cached)
