"""Alembic from a notebook cell, a script or pytest: upgrade, downgrade, history.

Each function is a plain call; its ``a``-prefixed twin is awaited
(``await migrations.aupgrade()``), as with ``Database.scalar``/``ascalar``.
They run on the owner loop on a pooled connection (see `runtime`). Failures
raise `MigrationError`: one line, no SQL.

``upgrade``, ``downgrade``, ``stamp`` and ``reset`` hold the migration lock
(`lock`) for the whole command, so processes racing on one database take
turns: each step is applied once, and the others find nothing left to do.
`step` says what a command did (a `Step`); the verbs return the revision the
database is at afterwards, as they always have.

Every command runs as the owner role (`admin.owner_database`): the tables a
migration creates belong to the owner, and the app role that sessions use
gets only the privileges the default privileges and revisions give it.
"""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING

from alembic import command
from alembic.script import ScriptDirectory

from dashtam_nb import admin, runner
from dashtam_nb.checks import check_bool, check_choice
from dashtam_nb.container import get_database
from dashtam_nb.errors import ValidationError, echo
from dashtam_nb.migrations import revisions
from dashtam_nb.migrations.runtime import (
    _with_alembic,
    alembic_config,
    no_command,
)
from dashtam_nb.migrations.steps import ACTIONS, Action, Step

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    from alembic.config import Config

    from dashtam_nb.database import Database
    from dashtam_nb.migrations.runtime import PathLike

__all__ = [
    "acheck",
    "acurrent",
    "adowngrade",
    "ahistory",
    "areset",
    "astamp",
    "astep",
    "aupgrade",
    "check",
    "current",
    "downgrade",
    "history",
    "reset",
    "stamp",
    "step",
    "upgrade",
]


def _owner(db: Database | None) -> Database:
    """The database to migrate, as its owner role."""
    return admin.owner_database(db if db is not None else get_database())


# What a revision argument is made of: ids, head/heads/base, branch@head,
# relative steps (+1, -1, head-1, ae10+2). Anything else (a space, a quote,
# a slash, a "%") is no revision, and is refused without being shown.
_REV = re.compile(r"[A-Za-z0-9_.@+\-]{1,100}")


def _check_rev(rev: object) -> str:
    if isinstance(rev, str) and _REV.fullmatch(rev.strip()):
        return rev.strip()
    needed = "rev must be a revision id, 'head', 'base' or a step like '+1'/'-1'"
    raise ValidationError(needed, field="rev")


def _downgrade(cfg: Config, revision: str) -> None:
    """``command.downgrade``, except that below base there is nothing to do."""
    if revision.startswith("-") and cfg.attributes.get("before") is None:
        return  # "already at base", not "Relative revision -1 didn't produce..."
    command.downgrade(cfg, revision)


def _reset(cfg: Config) -> None:
    command.downgrade(cfg, "base")
    command.upgrade(cfg, "head")


async def astep(
    action: Action,
    rev: str | None = None,
    *,
    purge: bool = False,
    db: Database | None = None,
    script_location: PathLike | None = None,
) -> Step:
    """Upgrade, downgrade, stamp or reset under the lock; say what was done.

    Args:
        action: ``"upgrade"``, ``"downgrade"``, ``"stamp"`` or ``"reset"``.
        rev: the target; default ``head`` (``-1`` for a downgrade); a reset
            takes none (base, then head).
        purge: stamp only: delete the recorded revision first.
        db: the database; ``None`` means `dashtam_nb.get_database()`.
        script_location: another migrations folder (tests use a copy).

    Returns:
        A `Step`: the revision before and after (both read while holding the
        lock) and the revisions that ran; ``str(step)`` is one line such as
        ``upgraded b7dd6cc03cac → 3e1198c8f481`` or ``already at head (…)``.
    """
    check_choice(action, "action", ACTIONS)
    if check_bool(purge, "purge") and action != "stamp":
        raise ValidationError("purge applies to stamp only", field="purge")
    if action == "reset" and rev is not None:
        raise ValidationError("reset takes no rev (base, then head)", field="rev")
    default = "-1" if action == "downgrade" else "head"
    to = _check_rev(default if rev is None else rev)
    op: Callable[[Config], object]
    if action == "reset":
        op, what = _reset, "reset"
    elif action == "stamp":
        op = functools.partial(command.stamp, revision=to, purge=purge)
        what = f"stamp {echo(to)}"
    else:
        verb = command.upgrade if action == "upgrade" else _downgrade
        op = functools.partial(verb, revision=to)
        what = f"{action} to {echo(to)}"
    cfg = alembic_config(script_location)
    run = await _with_alembic(_owner(db), what, op, cfg, locked=True, rev=to)
    return Step(action, to, run.before, run.after, run.applied)


async def aupgrade(
    rev: str = "head",
    *,
    db: Database | None = None,
    script_location: PathLike | None = None,
) -> str | None:
    """Upgrade to ``rev`` and return the revision the database is at afterwards.

    Args:
        rev: target revision, ``"head"`` or a relative step such as ``"+1"``.
        db: the database; ``None`` means `dashtam_nb.get_database()`.
        script_location: another migrations folder (tests use a copy).

    Raises:
        MigrationError: a revision failed; the ones before it stay committed,
            and the message names the failing one and where the database is.
    """
    step = await astep("upgrade", rev, db=db, script_location=script_location)
    return step.after


async def adowngrade(
    rev: str = "-1",
    *,
    db: Database | None = None,
    script_location: PathLike | None = None,
) -> str | None:
    """Downgrade to ``rev``: one step by default, never a prompt.

    Returns the revision afterwards (``None`` at base); see `aupgrade`.
    """
    step = await astep("downgrade", rev, db=db, script_location=script_location)
    return step.after


async def areset(
    *, db: Database | None = None, script_location: PathLike | None = None
) -> str | None:
    """Downgrade to base, then upgrade to head: a known schema for a notebook.

    Rows in migrated tables are lost; tables no revision knows are left alone.
    Both halves run under one hold of the lock.
    """
    return (await astep("reset", db=db, script_location=script_location)).after


async def astamp(
    rev: str = "head", *, purge: bool = False, db: Database | None = None
) -> str | None:
    """Record ``rev`` as the database's revision without running migrations.

    ``purge=True`` (``alembic stamp --purge``) first deletes the recorded one:
    needed when it names a revision no file has ("Can't locate revision").
    """
    return (await astep("stamp", rev, purge=purge, db=db)).after


async def acurrent(*, db: Database | None = None) -> str | None:
    """The database's revision, or ``None`` before the first upgrade."""
    run = await _with_alembic(_owner(db), "current", no_command, alembic_config())
    return run.after


async def ahistory(
    *, db: Database | None = None, script_location: PathLike | None = None
) -> pd.DataFrame:
    """Every revision, base -> head, marking the head and the current one.

    Returns:
        A DataFrame with `revisions.HISTORY_COLUMNS`; ``created`` is the file's
        ``Create Date`` (UTC).
    """
    cfg = alembic_config(script_location)
    run = await _with_alembic(_owner(db), "history", ScriptDirectory.from_config, cfg)
    return revisions.history_frame(run.result, run.after)


async def acheck(
    *, db: Database | None = None, script_location: PathLike | None = None
) -> None:
    """Raise `MigrationError` if the models differ from the migrated schema.

    Autogenerate compares ``Base.metadata`` (types included) with the
    database, so a model change without a revision fails a test, not a deploy.
    """
    cfg = alembic_config(script_location)
    await _with_alembic(_owner(db), "check", command.check, cfg)


step = runner.blocking(astep)
upgrade = runner.blocking(aupgrade)
downgrade = runner.blocking(adowngrade)
reset = runner.blocking(areset)
stamp = runner.blocking(astamp)
current = runner.blocking(acurrent)
history = runner.blocking(ahistory)
check = runner.blocking(acheck)
