"""The two database roles: an owner that migrates, an app that only works.

A production database keeps the role that owns the tables (and so may
``ALTER`` them, disable their triggers, drop them) apart from the role the
application connects as. Otherwise the append-only audit log is append-only
by convention only: its owner can ``ALTER TABLE audit_logs DISABLE TRIGGER``,
and a superuser can ``SET session_replication_role = replica``, which skips
every trigger. So:

* ``dashtam_owner`` (`OWNER_ROLE`) owns the databases and every migrated
  object and runs the migrations; not a superuser, may not create roles.
* ``dashtam_app`` (`APP_ROLE`) is what sessions, frames, notebooks and the
  magic connect as: no superuser, not the owner, not a member of it. On the
  owner's tables it has DML (``SELECT, INSERT, UPDATE, DELETE, TRUNCATE``,
  ``REFERENCES``, and ``MAINTAIN`` for ``ANALYZE`` on PostgreSQL 17+), through
  default privileges; on ``audit_logs`` only ``SELECT, INSERT`` (a migration
  revokes the rest). It may ``CREATE`` in schema ``public`` and create
  schemas: ``write_frame``, ``%sql CREATE TABLE`` and notebooks make analysts'
  own tables, which it then owns (and may alter); the owner's it cannot.

On the embedded server `bootstrap` creates both, once, as the superuser
(trust auth on a private socket: no role has a password to leak). It writes the
default privileges into ``template1`` as well, so every database created later
(``dn.connect(name, fresh=True)``) starts with them, and adopts the databases a
data directory made before roles existed (ownership to the owner role). With
an external ``DATABASE_URL`` the admin creates the roles (``docs/roles.md``)
and ``dashtam-nb db check-roles`` (`roles.check`) says whether they are safe.

`owner_url` finds the owner's URL for a session's URL: on the embedded server
the same socket as ``dashtam_owner``; elsewhere ``DATABASE_OWNER_URL`` when
set (same server), else the URL itself (one role does everything, which
``check-roles`` reports as unsafe). `dashtam_nb.admin.owner_database` is the
owner's `Database` for a session's one (this module imports no settings: the
server imports it).
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import URL

__all__ = [
    "APP_ROLE",
    "OWNER_ROLE",
    "ROLES_VERSION",
    "bootstrap",
    "grants",
    "owner_url",
    "prepare_database",
]

OWNER_ROLE = "dashtam_owner"
APP_ROLE = "dashtam_app"
ROLES_VERSION = "dashtam_nb roles v2"
"""Written as the app role's comment when `bootstrap` is done; bump to redo."""

_SYSTEM_DBS = ("postgres", "template0")
_OWNER = sql.Identifier(OWNER_ROLE)
_APP = sql.Identifier(APP_ROLE)
# NOINHERIT: even if someone grants the app a role later, it gets that role's
# privileges only after an explicit SET ROLE (check-roles reports membership).
_OWNER_ATTRS = "LOGIN NOSUPERUSER NOCREATEROLE CREATEDB NOREPLICATION NOBYPASSRLS"
_APP_ATTRS = (
    "LOGIN NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS NOINHERIT"
)
_USER_SCHEMAS = "n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema'"


def _table_privileges(server_version: int) -> sql.Composable:
    privs = "SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES"
    if server_version >= 170000:  # MAINTAIN (ANALYZE, VACUUM) is new in 17
        privs += ", MAINTAIN"
    return sql.SQL(privs)


def bootstrap(connect: Callable[[str], psycopg.Connection[Any]]) -> bool:
    """Create the two roles and their privileges, once; True if it did work.

    Args:
        connect: opens an autocommit superuser connection to a database by
            name (the embedded server's trusted socket).

    Idempotent and cheap when done: one query reads the app role's comment
    (`ROLES_VERSION`). The caller holds the server lock, so two processes never
    bootstrap at once.
    """
    with connect("postgres") as conn:
        done = conn.execute(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles "
            "WHERE rolname = %s",
            (APP_ROLE,),
        ).fetchone()
        if done is not None and done[0] == ROLES_VERSION:
            return False
        for role, attrs in ((OWNER_ROLE, _OWNER_ATTRS), (APP_ROLE, _APP_ATTRS)):
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)
            ).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL("{} ROLE {} " + attrs).format(
                    sql.SQL(verb), sql.Identifier(role)
                )
            )
        # DROP DATABASE ... WITH (FORCE) ends the app's sessions on it.
        conn.execute(sql.SQL("GRANT pg_signal_backend TO {}").format(_OWNER))
        adopt = [
            name
            for (name,) in conn.execute(
                "SELECT d.datname FROM pg_database d JOIN pg_roles r "
                "ON r.oid = d.datdba WHERE d.datallowconn AND r.rolsuper "
                "AND NOT d.datname = ANY(%s)",
                (list(_SYSTEM_DBS),),
            )
        ]
        for name in adopt:
            if name != "template1":
                conn.execute(
                    sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
                        sql.Identifier(name), _OWNER
                    )
                )
    for name in adopt:
        with connect(name) as conn:
            prepare_database(conn, adopt=name != "template1")
    with connect("postgres") as conn:
        conn.execute(
            sql.SQL("COMMENT ON ROLE {} IS {}").format(_APP, sql.Literal(ROLES_VERSION))
        )
    return True


def grants(
    app: str,
    server_version: int,
    *,
    owner: str | None = None,
    database: str | None = None,
) -> list[sql.Composed]:
    """The statements that give ``app`` its privileges in one database.

    Default privileges for what ``owner`` creates from now on (``None``: the
    role running them), ``CREATE`` on the ``database`` (analysts' own
    schemas; database privileges are not copied from a template) and
    ``USAGE, CREATE`` on schema ``public`` (their own tables), last. Run by
    the owner or a superuser; idempotent.
    """
    tables = _table_privileges(server_version)
    who = (
        sql.SQL("")
        if owner is None
        else sql.SQL("FOR ROLE {} ").format(sql.Identifier(owner))
    )
    role = sql.Identifier(app)
    statements = [
        sql.SQL("ALTER DEFAULT PRIVILEGES {}GRANT {} ON TABLES TO {}").format(
            who, tables, role
        ),
        sql.SQL(
            "ALTER DEFAULT PRIVILEGES {}GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {}"
        ).format(who, role),
    ]
    if database is not None:
        statements.append(
            sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(database), role
            )
        )
    public = sql.SQL("GRANT USAGE, CREATE ON SCHEMA public TO {}").format(role)
    statements.append(public)
    return statements


def prepare_database(conn: psycopg.Connection[Any], *, adopt: bool = False) -> None:
    """Give the embedded app role its privileges in ``conn``'s database.

    See `grants`; with ``adopt``, also hand every object a superuser owns in
    the user schemas to the owner role and grant the app DML on what exists
    (a database made before roles existed). Run as superuser.
    """
    version = conn.info.server_version
    name = conn.info.dbname
    database = None if name == "template1" else name
    statements = grants(APP_ROLE, version, owner=OWNER_ROLE, database=database)
    if conn.execute("SELECT to_regnamespace('public')").fetchone() == (None,):
        statements.pop()  # no schema public (dropped): nothing to grant on
    for statement in statements:
        conn.execute(statement)
    if adopt:
        _adopt(conn, _table_privileges(version))


def _adopt(conn: psycopg.Connection[Any], tables: sql.Composable) -> None:
    """Objects owned by a superuser (made before roles) go to the owner role."""
    alters: list[sql.Composed] = []
    for (schema,) in conn.execute(
        f"SELECT n.nspname FROM pg_namespace n JOIN pg_roles o ON o.oid = "
        f"n.nspowner WHERE o.rolsuper AND {_USER_SCHEMAS}"
    ):
        alters.append(
            sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(
                sql.Identifier(schema), _OWNER
            )
        )
    # Sequences that belong to a column (serial, identity) follow their table.
    kinds = {"r": "TABLE", "p": "TABLE", "f": "FOREIGN TABLE", "v": "VIEW"}
    kinds |= {"m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
    for rel, kind in conn.execute(
        "SELECT c.oid::regclass::text, c.relkind FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_roles o ON o.oid = c.relowner "
        f"WHERE o.rolsuper AND {_USER_SCHEMAS} "
        "AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S') AND NOT EXISTS ("
        " SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass"
        " AND d.objid = c.oid AND d.deptype IN ('a', 'i')"
        " AND d.refclassid = 'pg_class'::regclass)"
    ):
        alters.append(
            sql.SQL("ALTER {} {} OWNER TO {}").format(
                sql.SQL(kinds[kind]), sql.SQL(rel), _OWNER
            )
        )
    for (routine,) in conn.execute(
        "SELECT p.oid::regprocedure::text FROM pg_proc p "
        "JOIN pg_namespace n ON n.oid = p.pronamespace "
        f"JOIN pg_roles o ON o.oid = p.proowner WHERE o.rolsuper AND {_USER_SCHEMAS}"
    ):
        alters.append(
            sql.SQL("ALTER ROUTINE {} OWNER TO {}").format(sql.SQL(routine), _OWNER)
        )
    for typ, kind in conn.execute(
        "SELECT t.oid::regtype::text, t.typtype FROM pg_type t "
        "JOIN pg_namespace n ON n.oid = t.typnamespace "
        f"JOIN pg_roles o ON o.oid = t.typowner WHERE o.rolsuper AND {_USER_SCHEMAS} "
        "AND t.typtype IN ('e', 'd', 'r')"
    ):
        verb = "DOMAIN" if kind == "d" else "TYPE"
        alters.append(
            sql.SQL("ALTER {} {} OWNER TO {}").format(
                sql.SQL(verb), sql.SQL(typ), _OWNER
            )
        )
    for statement in alters:
        # Autocommit: one object that cannot change owner (an extension's
        # member) stays as it is, and check-roles reports what matters.
        with contextlib.suppress(psycopg.Error):
            conn.execute(statement)
    for (schema,) in conn.execute(
        f"SELECT n.nspname FROM pg_namespace n WHERE {_USER_SCHEMAS}"
    ):
        name = sql.Identifier(schema)
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(name, _APP))
        conn.execute(
            sql.SQL("GRANT {} ON ALL TABLES IN SCHEMA {} TO {}").format(
                tables, name, _APP
            )
        )
        conn.execute(
            sql.SQL(
                "GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {} TO {}"
            ).format(name, _APP)
        )
    if conn.execute("SELECT to_regclass('public.audit_logs')").fetchone() != (None,):
        conn.execute(
            sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON audit_logs FROM {}").format(
                _APP
            )
        )


def owner_url(url: URL, configured: URL | None = None) -> URL:
    """The URL the owner role uses for ``url``'s database.

    * ``configured`` (``DATABASE_OWNER_URL``) when given and on the same
      server as ``url``: that URL, on ``url``'s database;
    * `APP_ROLE` on a Unix socket or without a password (the embedded
      server, whose trusted socket ignores passwords, or a server set up the
      same way): the same URL as `OWNER_ROLE`, without a password;
    * otherwise ``url`` itself (the one role runs migrations too).

    `dashtam_nb.admin.owner_url` passes the setting.
    """
    if configured is not None and _same_server(configured, url):
        return configured.set(database=url.database)
    socket = url.host is None and str(url.query.get("host", "")).startswith("/")
    if url.username == APP_ROLE and (socket or url.password is None):
        return url.set(username=OWNER_ROLE, password=None)
    return url


def _same_server(a: URL, b: URL) -> bool:
    def where(u: URL) -> tuple[object, ...]:
        return (u.host, u.port, u.query.get("host"))

    return where(a) == where(b)
