"""The users table."""

from typing import Self

from sqlalchemy import CheckConstraint, Index, String, false, func, true
from sqlalchemy.orm import Mapped, mapped_column

from dashtam_nb.entities.user import MAX_EMAIL_LENGTH, User
from dashtam_nb.models.base import SOFT_DELETE_CHECK, BaseMutableModel, SoftDeleteMixin

__all__ = ["UserModel"]


class UserModel(BaseMutableModel, SoftDeleteMixin):
    """A user row; soft-deletable, so a deleted account can be restored.

    Email uniqueness is case-insensitive and applies to live rows only (see
    ``uq_users_email_lower_live`` below): ``Bob@x.io`` and ``bob@x.io`` are one
    person, and a soft-deleted user must not block a new registration.
    """

    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint(
            f"position('@' in email) > 1 AND char_length(email) <= {MAX_EMAIL_LENGTH}",
            name="email_format",
        ),
        CheckConstraint(SOFT_DELETE_CHECK, name="deleted_at_matches"),
        {"comment": "Registered users; soft-deletable"},
    )

    email: Mapped[str] = mapped_column(
        String(255), comment="Login address; unique case-insensitively among live rows"
    )
    password_hash: Mapped[str] = mapped_column(
        String(255), comment="Password hash only; never a plain password"
    )
    is_active: Mapped[bool] = mapped_column(
        default=True, server_default=true(), comment="False blocks login"
    )

    def to_entity(self) -> User:
        """Return the domain entity, timestamps included."""
        return User(
            id=self.id,
            email=self.email,
            password_hash=self.password_hash,
            is_active=self.is_active,
            created_at=self.created_at,
            updated_at=self.updated_at,
            is_deleted=self.is_deleted,
            deleted_at=self.deleted_at,
            version=self.version,
        )

    @classmethod
    def from_entity(cls, user: User) -> Self:
        """Build a row from an entity; timestamps and version are left to the ORM.

        ``version`` is never copied: the ORM sets 1 on insert and checks and
        bumps it on update (see `Repository.save`).
        """
        return cls(
            id=user.id,
            email=user.email,
            password_hash=user.password_hash,
            is_active=user.is_active,
            is_deleted=user.is_deleted,
            deleted_at=user.deleted_at,
        )


# Defined after the class so they can use mapped columns, including the
# mixin's. "= false" (not "IS false") lets the planner match these partial
# indexes to the live-rows criterion.
Index(
    "uq_users_email_lower_live",
    func.lower(UserModel.email),
    unique=True,
    postgresql_where=UserModel.is_deleted == false(),
)
Index(
    "ix_users_created_at_id_live",
    UserModel.created_at,
    UserModel.id,
    postgresql_where=UserModel.is_deleted == false(),
)
