"""The repositories' shared machinery: mapping, validation hooks, frame reads.

Kept apart from `base.Repository` (the public methods) so each module stays
short; nothing here does I/O except the small private read helpers, which
always run inside an already hopped public method.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from sqlalchemy import Text, Uuid, select
from sqlalchemy import cast as cast_

from dashtam_nb import columnar, frames
from dashtam_nb.errors import ValidationError
from dashtam_nb.ids import parse_uuid
from dashtam_nb.models.base import BaseModel
from dashtam_nb.pagination import sort_column
from dashtam_nb.session import real_session
from dashtam_nb.softdelete import INCLUDE_DELETED

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
            **{INCLUDE_DELETED: bool(include_deleted)}
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
        self, names: Sequence[str], stmt: Select[Any], include_deleted: bool = False
    ) -> pd.DataFrame:
        """A column select as a DataFrame, through `columnar.fetch_frame`.

        Small results take the row path on the session's connection; large
        ones the columnar (ADBC) path on the session's snapshot. Both apply
        the same global live-rows criterion and give identical dtypes.
        """
        frame = await columnar.fetch_frame(
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
