"""row versions and soft-deletable accounts

A ``version`` column on users, accounts and transactions: SQLAlchemy's
``version_id_col`` adds ``WHERE version = <version read>`` to every ORM
UPDATE, so a stale save matches no row and raises ConflictError instead of
resurrecting a soft-deleted row or overwriting a concurrent change. Existing
rows start at 1 (the server default also covers COPY and raw INSERTs).

Accounts become soft-deletable (``is_deleted``, ``deleted_at`` and the CHECK
that keeps them consistent), so soft-deleting a user can hide its accounts
and transactions too, and restoring it can bring back exactly those. A
user already soft-deleted before this revision keeps live accounts until it
is restored and deleted again: the revision changes no data.

Revision ID: 98b9929f466e
Revises: 3e1198c8f481
Create Date: 2026-12-03 16:20:00.000000+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "98b9929f466e"
down_revision: str | Sequence[str] | None = "3e1198c8f481"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_VERSIONED = ("users", "accounts", "transactions")


def upgrade() -> None:
    for table in _VERSIONED:
        op.add_column(
            table,
            sa.Column(
                "version",
                sa.Integer(),
                server_default=sa.text("1"),
                nullable=False,
                comment="Row version: 1 on insert, +1 on every update "
                "(optimistic lock)",
            ),
        )
    op.add_column(
        "accounts",
        sa.Column(
            "is_deleted",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="True once soft-deleted; hidden from default queries",
        ),
    )
    op.add_column(
        "accounts",
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the row was soft-deleted; NULL while live",
        ),
    )
    op.create_check_constraint(
        op.f("ck_accounts_deleted_at_matches"),
        "accounts",
        "is_deleted = (deleted_at IS NOT NULL)",
    )
    op.create_table_comment(
        "accounts",
        "Financial accounts owned by users; soft-deletable",
        existing_comment="Financial accounts owned by users",
    )


def downgrade() -> None:
    # Soft-deleted accounts become visible again: their state has no column.
    op.create_table_comment(
        "accounts",
        "Financial accounts owned by users",
        existing_comment="Financial accounts owned by users; soft-deletable",
    )
    op.drop_constraint(
        op.f("ck_accounts_deleted_at_matches"), "accounts", type_="check"
    )
    op.drop_column("accounts", "deleted_at")
    op.drop_column("accounts", "is_deleted")
    for table in reversed(_VERSIONED):
        op.drop_column(table, "version")
