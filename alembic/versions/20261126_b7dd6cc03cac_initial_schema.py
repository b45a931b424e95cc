"""initial schema: users, accounts, transactions, audit_logs

Every table, key, check and index of the models, names from the naming
convention. The partial indexes cover live rows only (``is_deleted = false``,
the form the soft-delete criterion uses, so the planner can match them). The
audit log's append-only trigger is the next revision.

Revision ID: b7dd6cc03cac
Revises:
Create Date: 2026-11-26 05:24:21.978905+00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# revision identifiers, used by Alembic.
revision: str = "b7dd6cc03cac"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "audit_logs",
        sa.Column(
            "id", sa.Uuid(), nullable=False, comment="UUIDv7, generated in Python"
        ),
        sa.Column(
            "action", sa.String(length=100), nullable=False, comment="What happened"
        ),
        sa.Column(
            "user_id",
            sa.Uuid(),
            nullable=True,
            comment="Actor; NULL for system actions",
        ),
        sa.Column(
            "resource_type",
            sa.String(length=50),
            nullable=False,
            comment="Kind of thing acted on, e.g. 'user'",
        ),
        sa.Column(
            "resource_id",
            sa.Uuid(),
            nullable=True,
            comment="Thing acted on; NULL for global actions",
        ),
        sa.Column(
            "context",
            postgresql.JSONB(none_as_null=True, astext_type=sa.Text()),
            nullable=True,
            comment="Extra details as JSONB; never secrets",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Set by the database on insert",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_logs")),
        comment="Append-only audit trail",
    )
    op.create_index(
        "ix_audit_logs_resource_type_resource_id_created_at",
        "audit_logs",
        ["resource_type", "resource_id", "created_at"],
        unique=False,
    )
    op.create_table(
        "users",
        sa.Column(
            "id", sa.Uuid(), nullable=False, comment="UUIDv7, generated in Python"
        ),
        sa.Column(
            "email",
            sa.String(length=255),
            nullable=False,
            comment="Login address; unique case-insensitively among live rows",
        ),
        sa.Column(
            "password_hash",
            sa.String(length=255),
            nullable=False,
            comment="Password hash only; never a plain password",
        ),
        sa.Column(
            "is_active",
            sa.Boolean(),
            server_default=sa.text("true"),
            nullable=False,
            comment="False blocks login",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Set by the database on insert",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Set by the database on insert and on every update",
        ),
        sa.Column(
            "is_deleted",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="True once soft-deleted; hidden from default queries",
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the row was soft-deleted; NULL while live",
        ),
        sa.CheckConstraint(
            "position('@' in email) > 1 AND char_length(email) <= 254",
            name=op.f("ck_users_email_format"),
        ),
        sa.CheckConstraint(
            "is_deleted = (deleted_at IS NOT NULL)",
            name=op.f("ck_users_deleted_at_matches"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        comment="Registered users; soft-deletable",
    )
    op.create_index(
        "ix_users_created_at_id_live",
        "users",
        ["created_at", "id"],
        unique=False,
        postgresql_where=sa.text("is_deleted = false"),
    )
    op.create_index(
        "uq_users_email_lower_live",
        "users",
        [sa.literal_column("lower(email)")],
        unique=True,
        postgresql_where=sa.text("is_deleted = false"),
    )
    op.create_table(
        "accounts",
        sa.Column(
            "id", sa.Uuid(), nullable=False, comment="UUIDv7, generated in Python"
        ),
        sa.Column(
            "user_id",
            sa.Uuid(),
            nullable=False,
            comment="Owner; indexed for per-user lists and the cascade",
        ),
        sa.Column(
            "name", sa.String(length=100), nullable=False, comment="Display name"
        ),
        sa.Column(
            "institution",
            sa.String(length=100),
            nullable=False,
            comment="Bank or broker",
        ),
        sa.Column(
            "account_type",
            sa.String(length=20),
            nullable=False,
            comment="checking, savings, credit or brokerage",
        ),
        sa.Column(
            "currency",
            sa.String(length=3),
            server_default=sa.text("'USD'"),
            nullable=False,
            comment="ISO 4217 code",
        ),
        sa.Column(
            "balance",
            sa.Numeric(precision=14, scale=2),
            server_default=sa.text("0"),
            nullable=False,
            comment="Current balance; Numeric, never float",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Set by the database on insert",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Set by the database on insert and on every update",
        ),
        sa.CheckConstraint(
            "account_type IN ('checking', 'savings', 'credit', 'brokerage')",
            name=op.f("ck_accounts_account_type"),
        ),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_accounts_currency_iso4217")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_accounts")),
        comment="Financial accounts owned by users",
    )
    op.create_index(op.f("ix_accounts_user_id"), "accounts", ["user_id"], unique=False)
    op.create_table(
        "transactions",
        sa.Column(
            "id", sa.Uuid(), nullable=False, comment="UUIDv7, generated in Python"
        ),
        sa.Column(
            "account_id",
            sa.Uuid(),
            nullable=False,
            comment="Account the money moved on",
        ),
        sa.Column(
            "amount",
            sa.Numeric(precision=14, scale=2),
            nullable=False,
            comment="Signed; negative is a debit",
        ),
        sa.Column(
            "currency",
            sa.String(length=3),
            server_default=sa.text("'USD'"),
            nullable=False,
            comment="ISO 4217",
        ),
        sa.Column(
            "category",
            sa.String(length=50),
            nullable=False,
            comment="Spending category",
        ),
        sa.Column(
            "description",
            sa.String(length=255),
            server_default=sa.text("''"),
            nullable=False,
            comment="Free text",
        ),
        sa.Column(
            "posted_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="When the bank booked it",
        ),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Set by the database on insert",
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
            comment="Set by the database on insert and on every update",
        ),
        sa.Column(
            "is_deleted",
            sa.Boolean(),
            server_default=sa.text("false"),
            nullable=False,
            comment="True once soft-deleted; hidden from default queries",
        ),
        sa.Column(
            "deleted_at",
            sa.DateTime(timezone=True),
            nullable=True,
            comment="When the row was soft-deleted; NULL while live",
        ),
        sa.CheckConstraint(
            "currency ~ '^[A-Z]{3}$'", name=op.f("ck_transactions_currency_iso4217")
        ),
        sa.CheckConstraint(
            "is_deleted = (deleted_at IS NOT NULL)",
            name=op.f("ck_transactions_deleted_at_matches"),
        ),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_transactions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_transactions")),
        comment="Posted transactions; soft-deletable",
    )
    op.create_index(
        op.f("ix_transactions_account_id"), "transactions", ["account_id"], unique=False
    )
    op.create_index(
        "ix_transactions_account_id_posted_at_id_live",
        "transactions",
        ["account_id", "posted_at", "id"],
        unique=False,
        postgresql_where=sa.text("is_deleted = false"),
    )
    op.create_index(
        "ix_transactions_posted_at_id_live",
        "transactions",
        ["posted_at", "id"],
        unique=False,
        postgresql_where=sa.text("is_deleted = false"),
    )


def downgrade() -> None:
    # Children first; each table takes its indexes and constraints with it.
    op.drop_table("transactions")
    op.drop_table("accounts")
    op.drop_table("users")
    op.drop_table("audit_logs")
