"""The ``dashtam-nb`` command: server, migrations, seed data, notebooks."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from dashtam_nb import server
from dashtam_nb.config import masked, settings
from dashtam_nb.errors import DashtamError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence


def _db(args: argparse.Namespace) -> int:
    data_dir = settings.data_dir
    if args.action == "start":
        if not settings.uses_embedded:
            print("DATABASE_URL is set: nothing to start")
            return 0
        server.ensure_server(data_dir, keep_running=True)
        print(server.status(data_dir))
    elif args.action == "stop":
        print("stopped" if server.stop(data_dir) else "not running")
    elif args.action == "status":
        if not settings.uses_embedded:
            print(f"external server: {masked(settings.database_url)}")
        else:
            print(server.status(data_dir))
    elif args.action == "url":
        url = settings.database_url
        print(url.render_as_string(hide_password=not args.show_password))
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from dashtam_nb import migrations

    action: str = args.action
    if action == "up":
        migrations.upgrade(args.rev or "head")
    elif action == "down":
        migrations.downgrade(args.rev or "-1")
    elif action == "current":
        print(migrations.current() or "(base)")
    elif action == "history":
        print(migrations.history().to_string(index=False))
    elif action == "create":
        if not args.rev:
            print("usage: dashtam-nb migrate create NAME", file=sys.stderr)
            return 2
        print(migrations.revision(args.rev, autogenerate=True))
    elif action == "check":
        migrations.check()
        print("models match the migrated schema")
    return 0


def _seed(args: argparse.Namespace) -> int:
    from dashtam_nb import connect, migrations, sample_data

    db = connect()
    migrations.upgrade("head")
    counts = sample_data.seed(db, size=args.size)
    print(", ".join(f"{n:,} {table}" for table, n in counts.items()))
    return 0


def _notebooks(args: argparse.Namespace) -> int:
    from dashtam_nb.notebooks import run_all

    return 0 if run_all(args.paths or None) else 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``dashtam-nb``."""
    parser = argparse.ArgumentParser(prog="dashtam-nb", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="the embedded PostgreSQL server")
    db.add_argument("action", choices=["start", "stop", "status", "url"])
    db.add_argument("--show-password", action="store_true")
    db.set_defaults(func=_db)

    mig = sub.add_parser("migrate", help="Alembic migrations")
    mig.add_argument(
        "action", choices=["up", "down", "current", "history", "create", "check"]
    )
    mig.add_argument("rev", nargs="?", help="revision (up/down) or NAME (create)")
    mig.set_defaults(func=_migrate)

    seed = sub.add_parser("seed", help="load the sample data set")
    seed.add_argument("--size", default="small", help="small, large or a number")
    seed.set_defaults(func=_seed)

    nb = sub.add_parser("notebooks", help="run the notebooks headless")
    nb.add_argument("paths", nargs="*")
    nb.set_defaults(func=_notebooks)

    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except DashtamError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
