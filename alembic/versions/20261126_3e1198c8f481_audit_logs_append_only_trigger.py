"""audit_logs append-only trigger

The audit trail is append-only in the database itself, not only by
convention: a trigger refuses UPDATE and DELETE (per row) and TRUNCATE (per
statement), whoever runs them (raw SQL, bulk ORM statements, other tools).
The ORM refuses earlier, before any SQL (see models/audit_log.py).

SQLSTATE 23001 (restrict_violation): a standard code, so every client
classifies it as an integrity error (SQLAlchemy: IntegrityError). The message
contains "append-only", which dashtam_nb.errors.translate maps to
ImmutableRecordError.

Revision ID: 3e1198c8f481
Revises: b7dd6cc03cac
Create Date: 2026-11-26 05:24:43.103124+00:00

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "3e1198c8f481"
down_revision: str | Sequence[str] | None = "b7dd6cc03cac"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        """
        CREATE FUNCTION audit_logs_append_only() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_logs is append-only: % is not allowed', TG_OP
                USING ERRCODE = 'restrict_violation',
                      HINT = 'Audit rows are never changed; record a new entry.';
        END;
        $$
        """
    )
    op.execute(
        "COMMENT ON FUNCTION audit_logs_append_only() IS "
        "'Raises on any UPDATE, DELETE or TRUNCATE of audit_logs'"
    )
    op.execute(
        "CREATE TRIGGER audit_logs_no_update_delete "
        "BEFORE UPDATE OR DELETE ON audit_logs "
        "FOR EACH ROW EXECUTE FUNCTION audit_logs_append_only()"
    )
    # TRUNCATE fires no row triggers; it needs its own statement trigger.
    op.execute(
        "CREATE TRIGGER audit_logs_no_truncate "
        "BEFORE TRUNCATE ON audit_logs "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_append_only()"
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER audit_logs_no_truncate ON audit_logs")
    op.execute("DROP TRIGGER audit_logs_no_update_delete ON audit_logs")
    op.execute("DROP FUNCTION audit_logs_append_only()")
