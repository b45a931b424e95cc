"""Generic persistence shared by every repository: one hop, one flush, no commit.

A repository maps entities to rows and back and owns no transaction: it
flushes so ids, constraint errors and server timestamps appear at once, and
leaves COMMIT to ``db.get_session()`` / ``db.transaction()``, so several
repositories can share one atomic unit (the guide's "both commit together").

Every public async method is decorated with `hops`: its whole body runs on the
owner loop in one hop (a ``save`` is one hop, not five), and a driver error
leaves as a one-line `DashtamError`. The session may be a real `AsyncSession`
or the `HoppingSession` a notebook's top level gets; the body always uses the
real one, so nothing hops twice.

Reads come in two shapes with one naming rule: ``find_*`` returns entities,
``*_frame`` returns a pandas DataFrame selected column by column (no ORM
object per row) with the dtypes of `dashtam_nb.frames`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import delete as sa_delete
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from dashtam_nb.checks import check_bool
from dashtam_nb.ids import parse_uuid
from dashtam_nb.pagination import KeysetPage, Page, TotalMode, keyset_page, offset_page
from dashtam_nb.repositories.core import EntityT, ModelT, RepositoryCore, check_limit
from dashtam_nb.session import hops
from dashtam_nb.softdelete import INCLUDE_DELETED

if TYPE_CHECKING:
    from uuid import UUID

    import pandas as pd

__all__ = ["Repository"]


class Repository(RepositoryCore[EntityT, ModelT]):
    """Persistence of one aggregate: save, find, delete, count, pages, frames.

    Subclasses set ``model`` (the SQLAlchemy model, which maps itself with
    ``to_entity()`` / ``from_entity()``) and ``entity`` (the dataclass), and
    may override ``_validate`` to reject bad fields before any SQL. Build one
    per session, as the guide does: ``UserRepository(session)``.
    """

    # -- writes ---------------------------------------------------------------

    @hops
    async def save(self, entity: EntityT) -> EntityT:
        """Insert or update ``entity`` (matched by id) and return it as stored.

        Validation runs first, so a bad field costs no SQL. Then one SELECT
        by primary key decides INSERT or UPDATE (an UPDATE only sends changed
        columns, moves ``updated_at`` and bumps ``version``). The write runs
        in a SAVEPOINT: an error undoes only this save, and the caller's
        transaction and session stay usable.

        An update is optimistic: it says ``WHERE version = <entity.version>``
        (SQLAlchemy's ``version_id_col``), so a copy read before a concurrent
        change, soft delete or restore matches no row and is refused. The
        deletion state itself changes only through ``soft_delete`` /
        ``restore``, which cascade; a save never flips it.

        Returns:
            A new entity with the server's timestamps and the new version.

        Raises:
            ConflictError: the copy is stale (the row changed, was deleted or
                restored, or was purged since it was read), or a never-stored
                entity reuses the id of an existing row.
            ValidationError: ``is_deleted`` differs from the row's, or the
                parent row is soft-deleted.
        """
        entity = self._validate(self._check_entity(entity))
        uid = parse_uuid(cast("Any", entity).id)
        row = self._to_row(entity)
        row.id = uid
        session = self._db
        try:
            async with session.begin_nested():
                existing = await session.get(
                    self.model, uid, execution_options={INCLUDE_DELETED: True}
                )
                stored = await self._write(entity, row, existing)
                await session.flush()
        except StaleDataError:
            # The UPDATE's WHERE version = ... matched nothing: a concurrent
            # transaction changed or deleted the row after this one read it.
            self._forget(uid)
            raise self._conflict(uid, "was changed or deleted meanwhile") from None
        return self._to_entity(stored)

    @hops
    async def delete(self, entity_or_id: EntityT | UUID | str) -> None:
        """Hard-delete one row (the guide's ``delete``); missing is not an error.

        One DELETE, no load first; rows referencing it go by ``ON DELETE
        CASCADE``. Soft-deletable repositories also offer ``soft_delete``.
        """
        uid = self._ident(entity_or_id)
        model = cast("Any", self.model)
        await self._db.execute(
            sa_delete(model)
            .where(model.id == uid)
            .execution_options(synchronize_session=False)
        )
        self._forget(uid)

    # -- reads ----------------------------------------------------------------

    @hops
    async def find_by_id(
        self, entity_id: UUID | str, *, include_deleted: bool = False
    ) -> EntityT | None:
        """The row with this id as an entity, or None.

        Raises:
            InvalidIdError: before any SQL, if ``entity_id`` is not a UUID.
        """
        check_bool(include_deleted, "include_deleted")
        uid = parse_uuid(entity_id)
        row = await self._db.get(
            self.model, uid, execution_options={INCLUDE_DELETED: include_deleted}
        )
        # The identity map may hold a copy loaded with include_deleted=True.
        if row is None or (not include_deleted and getattr(row, "is_deleted", False)):
            return None
        return self._to_entity(row)

    @hops
    async def find_by_id_frame(
        self,
        entity_id: UUID | str,
        *,
        include_deleted: bool = False,
        include_secrets: bool = False,
    ) -> pd.DataFrame:
        """`find_by_id` as a frame of zero or one row (same columns either way)."""
        check_bool(include_deleted, "include_deleted")
        check_bool(include_secrets, "include_secrets")
        uid = parse_uuid(entity_id)
        names, stmt = self._columns(include_secrets)
        stmt = stmt.where(cast("Any", self.model).id == uid)
        return await self._frame(names, stmt, include_deleted)

    @hops
    async def count(self, *, include_deleted: bool = False) -> int:
        """Number of rows (live rows only, unless ``include_deleted``)."""
        check_bool(include_deleted, "include_deleted")
        stmt = select(func.count()).select_from(self.model)
        stmt = stmt.execution_options(**{INCLUDE_DELETED: include_deleted})
        return int(await self._db.scalar(stmt) or 0)

    @hops
    async def find_all_paginated(
        self,
        page: int = 1,
        page_size: int = 20,
        *,
        sort: str = "created_at",
        descending: bool = False,
    ) -> tuple[list[EntityT], int]:
        """The guide's Pattern 2: one page of entities and the exact total.

        Ordered by ``sort`` then ``id``, so pages never overlap or skip rows
        that tie on the sort value. `paginate` returns a richer `Page`.
        """
        check_bool(descending, "descending")
        found = await self._page(page, page_size, sort, descending, "exact", False)
        return found.items, found.total or 0

    @hops
    async def paginate(
        self,
        page: int = 1,
        page_size: int = 20,
        *,
        sort: str = "created_at",
        descending: bool = False,
        total: TotalMode = "exact",
        include_deleted: bool = False,
    ) -> Page[EntityT]:
        """One OFFSET page with its total; ``page.frame`` is its DataFrame.

        Args:
            page: 1-based page number.
            page_size: rows per page (1 to `pagination.MAX_PAGE_SIZE`).
            sort: a column name of the model; anything else is refused.
            descending: newest (largest) first.
            total: ``"exact"`` (a COUNT), ``"estimate"`` (the planner's guess,
                cheap on big tables), ``"auto"`` (exact while the estimate is
                small) or ``"none"``; ``page.total_kind`` says which it is.
            include_deleted: include soft-deleted rows.
        """
        check_bool(descending, "descending")
        check_bool(include_deleted, "include_deleted")
        return await self._page(
            page, page_size, sort, descending, total, include_deleted
        )

    async def _page(
        self,
        page: object,
        page_size: object,
        sort: object,
        descending: bool,
        total: TotalMode,
        include_deleted: bool,
    ) -> Page[EntityT]:
        return await offset_page(
            self._db,
            self.model,
            self._select(include_deleted),
            page=page,
            page_size=page_size,
            sort=sort,
            descending=descending,
            total=total,
            to_item=self._to_entity,
            to_frame=self._entities_frame,
        )

    @hops
    async def paginate_after(
        self,
        cursor: str | None = None,
        page_size: int = 20,
        *,
        sort: str = "created_at",
        descending: bool = False,
        include_deleted: bool = False,
    ) -> KeysetPage[EntityT]:
        """One keyset page after ``cursor`` (None: the first page).

        Costs the same on page 1 and page 50,000, and rows inserted meanwhile
        do not shift later pages. Follow ``page.next_cursor`` forwards and
        ``page.prev_cursor`` backwards. ``sort`` must be a NOT NULL column (a
        NULL would drop rows out of the walk).
        """
        check_bool(descending, "descending")
        check_bool(include_deleted, "include_deleted")
        return await keyset_page(
            self._db,
            self.model,
            self._select(include_deleted),
            cursor=cursor,
            page_size=page_size,
            sort=sort,
            descending=descending,
            to_item=self._to_entity,
            to_frame=self._entities_frame,
        )

    @hops
    async def find_all_frame(
        self,
        *,
        sort: str = "created_at",
        descending: bool = False,
        limit: int | None = None,
        include_deleted: bool = False,
        include_secrets: bool = False,
    ) -> pd.DataFrame:
        """Every row (or the first ``limit``) as a DataFrame, totally ordered.

        Columns are the entity's fields in order, without ``password_hash``
        unless ``include_secrets``; dtypes follow `dashtam_nb.frames` and are
        the same when no row matches.
        """
        check_bool(descending, "descending")
        check_bool(include_deleted, "include_deleted")
        check_bool(include_secrets, "include_secrets")
        names, stmt = self._columns(include_secrets)
        stmt = stmt.order_by(*self._order(sort, descending)).limit(check_limit(limit))
        return await self._frame(names, stmt, include_deleted)
