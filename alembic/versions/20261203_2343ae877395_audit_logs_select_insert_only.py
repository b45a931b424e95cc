"""audit_logs: SELECT and INSERT only for every role but its owner

The trigger refuses UPDATE, DELETE and TRUNCATE for everyone, but only as
long as it fires: the table's owner may disable it and a superuser may skip it
(session_replication_role = replica). So the roles that are neither (the app
role sessions use, see dashtam_nb/roles/) also lose the privileges
themselves: the server refuses them (SQLSTATE 42501, PermissionDeniedError)
before any trigger would run, even if a trigger were ever disabled or a
parameter privilege granted. Whoever holds them now (default privileges gave
the app role every table privilege at CREATE TABLE) loses them; the owner,
who runs migrations, keeps all of them.

Downgrade gives UPDATE, DELETE and TRUNCATE back to the roles that may INSERT
(the state before this revision).

Revision ID: 2343ae877395
Revises: 98b9929f466e
Create Date: 2026-12-03 16:30:00.000000+00:00

"""

from collections.abc import Sequence

from alembic import op

# revision identifiers, used by Alembic.
revision: str = "2343ae877395"
down_revision: str | Sequence[str] | None = "98b9929f466e"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Every grantee of audit_logs other than its owner: a role name (quoted) or
# PUBLIC (grantee 0). Names come from the catalogue, quoted by quote_ident.
_GRANTEES = """
    SELECT DISTINCT CASE a.grantee WHEN 0 THEN 'PUBLIC'
           ELSE quote_ident(pg_get_userbyid(a.grantee)) END
    FROM pg_class c, aclexplode(c.relacl) a
    WHERE c.oid = 'audit_logs'::regclass AND a.grantee <> c.relowner
      AND a.privilege_type IN ({privileges})
"""


def _each(privileges: str, statement: str) -> None:
    op.execute(
        f"""
        DO $$
        DECLARE who text;
        BEGIN
            FOR who IN {_GRANTEES.format(privileges=privileges)} LOOP
                EXECUTE format('{statement}', who);
            END LOOP;
        END;
        $$
        """
    )


def upgrade() -> None:
    _each(
        "'UPDATE', 'DELETE', 'TRUNCATE'",
        "REVOKE UPDATE, DELETE, TRUNCATE ON audit_logs FROM %s",
    )


def downgrade() -> None:
    _each("'INSERT'", "GRANT UPDATE, DELETE, TRUNCATE ON audit_logs TO %s")
