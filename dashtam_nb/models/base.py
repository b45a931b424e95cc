"""Declarative base, shared columns and the soft-delete marker for every table.

Conventions fixed here, once: constraint names (so Alembic can drop what it
created), ``timestamptz`` for every datetime, ``Numeric(14, 2)`` for money,
UUIDv7 primary keys generated in Python, and server-fetched timestamps that
never need a lazy load under asyncio.
"""

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar
from uuid import UUID

from sqlalchemy import DateTime, MetaData, Numeric, String, event, false, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncAttrs
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from dashtam_nb.ids import uuid7

__all__ = [
    "NAMING_CONVENTION",
    "SOFT_DELETE_CHECK",
    "Base",
    "BaseModel",
    "BaseMutableModel",
    "SoftDeleteMixin",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic names: migrations can drop and rename what they created."""


class Base(AsyncAttrs, DeclarativeBase):
    """Root of all models; holds the metadata Alembic compares against.

    ``AsyncAttrs`` adds ``await obj.awaitable_attrs.x`` for the rare attribute
    that must be loaded after the fact under asyncio.
    """

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        # Naive timestamps lose the offset silently; every datetime is aware.
        datetime: DateTime(timezone=True),
        # Money: exact, 12 digits before the point, cents after.
        Decimal: Numeric(14, 2),
        # none_as_null: Python None is SQL NULL, not the JSON literal 'null'.
        dict[str, Any]: JSONB(none_as_null=True),
        # An unbounded VARCHAR invites abuse; columns that need less say so.
        str: String(255),
    }


class BaseModel(Base):
    """Abstract base for every table: UUIDv7 ``id`` and server-set ``created_at``.

    ``eager_defaults`` makes INSERT (and UPDATE) return server-generated values
    via RETURNING, so ``to_entity()`` right after ``flush()`` reads
    ``created_at`` without the lazy load that fails under asyncio.

    ``sort_order`` puts ``id`` first and bookkeeping columns last in every
    table, so ``SELECT *`` and DataFrames read naturally.
    """

    __abstract__ = True
    __mapper_args__: Mapping[str, Any] = {"eager_defaults": True}

    id: Mapped[UUID] = mapped_column(
        primary_key=True,
        default=uuid7,
        sort_order=-100,
        comment="UUIDv7, generated in Python",
    )
    """Assigned at construction (see ``_assign_id``), so known before flush."""

    created_at: Mapped[datetime] = mapped_column(
        server_default=func.now(),
        sort_order=100,
        comment="Set by the database on insert",
    )
    """Transaction time from the server, not the client's clock."""


class BaseMutableModel(BaseModel):
    """Abstract base for tables whose rows change: ``updated_at`` and ``version``.

    ``updated_at`` starts equal to ``created_at`` (both ``now()``). On every
    ORM or Core UPDATE, ``onupdate`` sets it in the same statement, and
    ``eager_defaults`` (inherited) returns the new value via RETURNING, so
    nothing is left expired for a lazy load. ``clock_timestamp()`` rather
    than ``now()``: ``now()`` is frozen at transaction start, so an update in
    the transaction that created the row would not move ``updated_at``.
    """

    __abstract__ = True

    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(),
        onupdate=func.clock_timestamp(),
        sort_order=101,
        comment="Set by the database on insert and on every update",
    )
    """Equal to ``created_at`` until the row is first updated."""

    version: Mapped[int] = mapped_column(
        server_default=text("1"),
        sort_order=104,
        comment="Row version: 1 on insert, +1 on every update (optimistic lock)",
    )
    """SQLAlchemy's ``version_id_col``: every ORM UPDATE says ``WHERE version =
    <the version read>``, so a stale write matches no row and fails instead of
    overwriting a concurrent change. Core UPDATEs of the package (soft delete,
    restore) bump it by hand. The server default covers COPY and raw INSERTs."""

    @declared_attr.directive
    def __mapper_args__(cls) -> Mapping[str, Any]:
        return {"eager_defaults": True, "version_id_col": cls.__table__.c.version}


class SoftDeleteMixin:
    """Marks a model as soft-deletable; the global live-rows criterion keys on it.

    Deleted rows keep their data (history, undo) but vanish from default
    queries. Partial indexes on live rows use ``is_deleted = false`` so the
    planner can match them to the criterion.
    """

    is_deleted: Mapped[bool] = mapped_column(
        default=False,
        server_default=false(),
        sort_order=102,
        comment="True once soft-deleted; hidden from default queries",
    )
    """Python default so the value is known without a round trip."""

    deleted_at: Mapped[datetime | None] = mapped_column(
        default=None,
        sort_order=103,
        comment="When the row was soft-deleted; NULL while live",
    )
    """Kept consistent with ``is_deleted`` by a CHECK on each table."""


SOFT_DELETE_CHECK = "is_deleted = (deleted_at IS NOT NULL)"
"""CHECK body for soft-deletable tables: deleted rows always say when."""


@event.listens_for(BaseModel, "init", propagate=True)
def _assign_id(_target: BaseModel, _args: Any, kwargs: dict[str, Any]) -> None:
    """Give every new model its UUIDv7 at construction, not at flush.

    The column ``default`` alone would leave ``id`` as ``None`` until flush,
    which breaks code that links rows or logs ids before writing.
    """
    if kwargs.get("id") is None:
        kwargs["id"] = uuid7()
