"""Is the session role safe for the audit log? ``dashtam-nb db check-roles``.

The append-only audit log holds against a role only if that role cannot turn
its protection off. `check_roles` connects as the session role (the app role
on the embedded server, ``DATABASE_URL`` otherwise) and asks the server,
finding by finding, whether it is a superuser, may create roles, owns (or
may become the owner of) the migrated tables, may skip triggers with
``session_replication_role``, holds ``UPDATE``/``DELETE``/``TRUNCATE`` on
``audit_logs``, and whether the audit log's triggers are there and enabled.
``session_replication_role`` is really tried (``SET LOCAL`` in a transaction
that is rolled back): parameter privileges, superuser and older servers all
answer the same way. Nothing is changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import text

from dashtam_nb import runner
from dashtam_nb.container import get_database
from dashtam_nb.errors import PermissionDeniedError, ValidationError, translate

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

    from dashtam_nb.database import Database

__all__ = ["Finding", "RoleCheck", "acheck_roles", "check_roles"]

AUDIT_TABLE = "audit_logs"
MIGRATED = ("users", "accounts", "transactions", AUDIT_TABLE, "alembic_version")
_TRIGGERS = ("audit_logs_no_truncate", "audit_logs_no_update_delete")

_ROLE = text(
    "SELECT current_user, r.rolsuper, r.rolcreaterole "
    "FROM pg_roles r WHERE r.rolname = current_user"
)
# The owner's privileges come with membership (SET ROLE), so it counts too.
_OWNED = text(
    "SELECT c.relname, pg_get_userbyid(c.relowner), "
    "pg_has_role(current_user, c.relowner, 'MEMBER') FROM pg_class c "
    "WHERE c.oid = to_regclass(:name)"
)
_PRIVILEGES = text(
    "SELECT p FROM unnest(CAST(:privs AS text[])) p "
    "WHERE has_table_privilege(CAST(:table AS text), p) ORDER BY p"
)
_TRIGGER_STATE = text(
    "SELECT tgname, tgenabled IN ('O', 'A') FROM pg_trigger "
    "WHERE tgrelid = to_regclass(:table) AND NOT tgisinternal ORDER BY tgname"
)


@dataclass(frozen=True)
class Finding:
    """One line of the report: what was asked, what was found, safe or not."""

    ok: bool
    what: str
    found: str

    def __str__(self) -> str:
        return f"{'ok    ' if self.ok else 'UNSAFE'}  {self.what}: {self.found}"


@dataclass(frozen=True)
class RoleCheck:
    """The report: the role, where, and its findings (`safe` if all are ok)."""

    role: str
    target: str
    findings: tuple[Finding, ...]

    @property
    def safe(self) -> bool:
        """True when the role cannot change, empty or unprotect the audit log."""
        return all(f.ok for f in self.findings)

    def __str__(self) -> str:
        head = f"session role {self.role} on {self.target}"
        verdict = (
            "safe: this role cannot change, empty or unprotect the audit log"
            if self.safe
            else "unsafe: connect as a role without the findings marked UNSAFE "
            "(see docs/roles.md)"
        )
        return "\n".join([head, *map(str, self.findings), verdict])


async def _skips_triggers(conn: AsyncConnection) -> bool:
    """Whether ``SET session_replication_role = replica`` is accepted."""
    trans = await conn.begin()
    try:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
    except Exception as exc:
        # By hand: a refusal here is the answer to the check, not an error.
        if isinstance(translate(exc), PermissionDeniedError):
            return False
        raise
    finally:
        await trans.rollback()  # nothing kept, not even the setting
    return True


async def _owned(conn: AsyncConnection) -> Finding:
    owned: list[str] = []
    owners: set[str] = set()
    for name in MIGRATED:
        row = (await conn.execute(_OWNED, {"name": name})).first()
        if row is None:
            continue
        owners.add(str(row[1]))
        if row[2]:
            owned.append(str(row[0]))
    if owned:
        return Finding(False, "owns the migrated tables", "yes: " + ", ".join(owned))
    return Finding(True, "owns the migrated tables", f"no (owner {', '.join(owners)})")


async def _inspect(conn: AsyncConnection, target: str) -> RoleCheck:
    role, superuser, createrole = (await conn.execute(_ROLE)).one()
    await conn.rollback()
    findings = [
        Finding(not superuser, "superuser", "yes" if superuser else "no"),
        Finding(not createrole, "may create roles", "yes" if createrole else "no"),
    ]
    if await conn.scalar(text("SELECT to_regclass(:t)"), {"t": AUDIT_TABLE}) is None:
        # Nothing to protect yet: the role's own findings still decide.
        found = "not found (nothing to protect yet; run migrations.upgrade())"
        findings.append(Finding(True, AUDIT_TABLE, found))
        await conn.rollback()
        findings.append(_replication(await _skips_triggers(conn)))
        return RoleCheck(str(role), target, tuple(findings))
    findings.append(await _owned(conn))
    held = list(
        (
            await conn.execute(
                _PRIVILEGES,
                {"privs": ["UPDATE", "DELETE", "TRUNCATE"], "table": AUDIT_TABLE},
            )
        ).scalars()
    )
    findings.append(
        Finding(
            not held,
            f"UPDATE, DELETE, TRUNCATE on {AUDIT_TABLE}",
            ("holds " + ", ".join(held)) if held else "none",
        )
    )
    rows = (await conn.execute(_TRIGGER_STATE, {"table": AUDIT_TABLE})).all()
    triggers: dict[str, bool] = {str(name): bool(on) for name, on in rows}
    await conn.rollback()
    missing = [t for t in _TRIGGERS if t not in triggers]
    disabled = [t for t in _TRIGGERS if t in triggers and not triggers[t]]
    found = (
        f"missing {', '.join(missing)}"
        if missing
        else f"disabled {', '.join(disabled)}"
        if disabled
        else "present and enabled"
    )
    findings.append(
        Finding(not missing and not disabled, f"{AUDIT_TABLE} triggers", found)
    )
    findings.append(_replication(await _skips_triggers(conn)))
    return RoleCheck(str(role), target, tuple(findings))


def _replication(accepted: bool) -> Finding:
    return Finding(
        not accepted,
        "may skip triggers (SET session_replication_role = replica)",
        "yes" if accepted else "no (refused)",
    )


async def acheck_roles(db: Database | None = None) -> RoleCheck:
    """Check the role ``db`` connects as (default `get_database()`).

    Returns:
        A `RoleCheck`; ``str()`` is one line per finding, ``.safe`` the verdict.

    Raises:
        DashtamError: the database cannot be reached (one line, no secrets).
    """
    from dashtam_nb.database import Database

    if db is not None and not isinstance(db, Database):
        raise ValidationError("db must be a dashtam_nb.Database", field="db")
    database = db if db is not None else get_database()

    async def on_owner() -> RoleCheck:
        async with database.engine.connect() as conn:
            return await _inspect(conn, database.target)

    return await runner.arun(on_owner(), target=database.target)


check_roles = runner.blocking(acheck_roles)
