"""The ``dashtam-nb`` command: server, migrations, seed data, notebooks, doctor.

Settings come from the environment, then a ``.env`` file (see `config`),
then defaults. Every command prints what it did.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from dashtam_nb import server
from dashtam_nb.config import masked, settings
from dashtam_nb.errors import DashtamError, ValidationError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = [
    "main",
]


def _db(args: argparse.Namespace) -> int:
    data_dir = settings.data_dir
    if args.action == "start":
        if not settings.uses_embedded:
            print("DATABASE_URL is set: nothing to start")
            return 0
        server.ensure_server(data_dir, keep_running=True)
        print(server.status(data_dir))
    elif args.action == "stop":
        others = server.attached(data_dir, others=True)
        if others and not args.force:
            who = ", ".join(str(p) for p in others)
            print(
                f"not stopped: {len(others)} process(es) attached ({who}); "
                "close them or use --force",
                file=sys.stderr,
            )
            return 1
        print("stopped" if server.stop(data_dir) else "not running")
    elif args.action == "status":
        if not settings.uses_embedded:
            print(f"external server: {masked(settings.database_url)}")
        else:
            print(server.status(data_dir))
    elif args.action == "url":
        url = settings.database_url
        print(url.render_as_string(hide_password=not args.show_password))
    elif args.action == "check-roles":
        return _check_roles()
    return 0


def _check_roles() -> int:
    """One line per finding on the session role; 1 when any is unsafe."""
    from dashtam_nb.database import Database
    from dashtam_nb.roles.check import check_roles

    with Database(settings.database_url, pool_size=1, max_overflow=0) as db:
        report = check_roles(db)
    print(report)
    return 0 if report.safe else 1


def _migrate(args: argparse.Namespace) -> int:
    from dashtam_nb.migrations import console

    return console.run(args)


def _seed(args: argparse.Namespace) -> int:
    from dashtam_nb import connect, migrations, sample_data
    from dashtam_nb.errors import DuplicateError

    # Before connecting or migrating: a bad --size costs no server start.
    sample_data.transaction_count(args.size)
    db = connect()
    name = db.url.database
    if args.fresh:
        counts = sample_data.seed(db, size=args.size, seed=args.seed, fresh=True)
        print(f"recreated database {name} and migrated it to head")
    else:
        print(migrations.step("upgrade", "head", db=db).describe("->"))
        try:
            counts = sample_data.seed(db, size=args.size, seed=args.seed)
        except DuplicateError:
            print(
                f"error: this sample data (--size {args.size}, --seed {args.seed}) "
                f"is already in database {name}; run dashtam-nb seed --fresh "
                "(drops and recreates it) or choose another --seed",
                file=sys.stderr,
            )
            return 1
    loaded = ", ".join(f"{n:,} {table}" for table, n in counts.items())
    print(f"seeded database {name}: {loaded}")
    return 0


def _doctor(args: argparse.Namespace) -> int:
    from dashtam_nb import doctor

    checks = doctor.diagnose(start=args.start)
    print(doctor.report(checks, encoding=getattr(sys.stdout, "encoding", None)))
    return 0 if all(c.ok for c in checks) else 1


def _notebooks(args: argparse.Namespace) -> int:
    from dashtam_nb.notebook_runner import run_all

    for n, path in enumerate(args.paths, 1):
        # os.path: False (not OSError) for a name too long; the path itself
        # is not echoed (it is whatever was typed), its position is.
        if not path.endswith(".ipynb") or not os.path.isfile(path):  # noqa: PTH113
            raise ValidationError(
                f"notebooks: path {n} is not an existing .ipynb file",
                field="paths",
            )
    return 0 if run_all(args.paths or None) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dashtam-nb``."""
    parser = argparse.ArgumentParser(prog="dashtam-nb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the embedded PostgreSQL server")
    db.add_argument(
        "action",
        choices=["start", "stop", "status", "url", "check-roles"],
        help="check-roles: is the session role safe for the audit log (exit 1 if not)",
    )
    db.add_argument("--show-password", action="store_true")
    db.add_argument(
        "--force", action="store_true", help="stop even if processes are attached"
    )
    db.set_defaults(func=_db)

    mig = sub.add_parser("migrate", help="Alembic migrations")
    mig.add_argument(
        "action",
        choices=["up", "down", "stamp", "current", "history", "create", "check"],
    )
    mig.add_argument("rev", nargs="?", help="revision (up/down/stamp) or NAME (create)")
    mig.add_argument(
        "--purge", action="store_true", help="stamp: drop the recorded revision first"
    )
    mig.set_defaults(func=_migrate)

    seed = sub.add_parser(
        "seed",
        help="migrate to head, then load the sample data set",
        description="Migrate the database to head, then load the deterministic "
        "sample data set (users, accounts, transactions, audit log) once.",
    )
    seed.add_argument(
        "--size",
        default="small",
        help="small (~40 users, 1,500 transactions), large (1,000,000) or a "
        "number of transactions (default: small)",
    )
    seed.add_argument(
        "--seed", type=int, default=42, help="generator seed (default: 42)"
    )
    seed.add_argument(
        "--fresh",
        action="store_true",
        help="drop and recreate the database first (the audit log refuses "
        "TRUNCATE, so a reload means a new database)",
    )
    seed.set_defaults(func=_seed)

    doc = sub.add_parser(
        "doctor",
        help="check this setup, one line per check with its fix (exit 1 on FAIL)",
    )
    doc.add_argument(
        "--start", action="store_true", help="start the embedded server if stopped"
    )
    doc.set_defaults(func=_doctor)

    nb = sub.add_parser("notebooks", help="run the notebooks headless")
    nb.add_argument("paths", nargs="*")
    nb.set_defaults(func=_notebooks)

    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except DashtamError as exc:
        # A message may quote an argument as typed (a lone surrogate from a
        # badly decoded argv): shown escaped, never a UnicodeEncodeError.
        line = f"error: {type(exc).__name__}: {exc}"
        print(line.encode("utf-8", "backslashreplace").decode(), file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
