"""``dashtam-nb migrate ...``: the verbs, each saying in one line what it did.

``up`` prints ``upgraded b7dd6cc03cac → 3e1198c8f481`` or ``already at head
(3e1198c8f481)``, ``down`` ``downgraded X → Y``, ``stamp`` ``stamped X``;
``create`` prints the new file's path (only that, so scripts can read it), or
says plainly that there was nothing to generate. Errors are one line on stderr
(see `dashtam_nb.cli.main`). The arrow falls back to ``->`` where stdout cannot
encode it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from dashtam_nb.errors import MigrationError
from dashtam_nb.migrations import commands, scripts
from dashtam_nb.migrations.steps import ARROW, Action

if TYPE_CHECKING:
    import argparse

__all__ = ["ACTIONS", "NOTHING_TO_GENERATE", "run"]

ACTIONS = ["up", "down", "stamp", "current", "history", "create", "check"]
_VERBS: dict[str, Action] = {"up": "upgrade", "down": "downgrade", "stamp": "stamp"}
NOTHING_TO_GENERATE = (
    "nothing to generate: the models match the migrated schema (no file written)"
)


def _arrow() -> str:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        ARROW.encode(encoding)
    except (LookupError, UnicodeEncodeError):
        return "->"
    return ARROW


def run(args: argparse.Namespace) -> int:
    """Run ``dashtam-nb migrate ACTION [REV]`` (``args.action``, ``args.rev``)."""
    action: str = args.action
    rev: str | None = args.rev
    if action in {"up", "down", "stamp"}:
        if action == "stamp" and not rev:
            print("usage: dashtam-nb migrate stamp REV [--purge]", file=sys.stderr)
            return 2
        purge = bool(getattr(args, "purge", False))
        step = commands.step(_VERBS[action], rev, purge=purge)
        print(step.describe(_arrow()))
    elif action == "current":
        print(commands.current() or "(base)")
    elif action == "history":
        print(commands.history().to_string(index=False))
    elif action == "create":
        if not rev:
            print("usage: dashtam-nb migrate create NAME", file=sys.stderr)
            return 2
        try:
            print(scripts.revision(rev, autogenerate=True))
        except MigrationError as exc:
            if exc.message != scripts.NO_CHANGES:
                raise
            print(NOTHING_TO_GENERATE)
    elif action == "check":
        commands.check()
        print("models match the migrated schema")
    return 0
