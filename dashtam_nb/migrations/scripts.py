"""Writing a revision file: our name for it, quiet hooks, nothing left on failure.

Alembic derives the file name from the message (keeping any Unicode letter),
prints ``Running post write hook ... done`` to stdout whatever ``quiet`` says
(1.20), and leaves the file behind when a hook or the final import fails. A
`Draft` fixes all three for one `dashtam_nb.migrations.revision` call:

* the revision id is chosen up front and the slug (`messages.slug`) is put
  into the ``file_template``, so the file is known before it exists;
* Alembic is told to run no hook; `Draft.finish` runs the configured ones
  (``module``, ``exec``, ``console_scripts``) with their output captured, then
  checks that the file still parses;
* `Draft.discard` removes the file if anything failed.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import functools
import importlib.util
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alembic import command
from alembic.script import Script, ScriptDirectory
from alembic.util import rev_id

from dashtam_nb import runner
from dashtam_nb.checks import check_bool
from dashtam_nb.database import Database
from dashtam_nb.errors import MigrationError, ValidationError
from dashtam_nb.migrations import messages
from dashtam_nb.migrations.runtime import _with_alembic, alembic_config, failure

if TYPE_CHECKING:
    from collections.abc import Mapping

    from alembic.config import Config

    from dashtam_nb.migrations.runtime import PathLike

__all__ = ["NO_CHANGES", "TOKEN", "Draft", "arevision", "revision"]

TOKEN = "REVISION_SCRIPT_FILENAME"
NO_CHANGES = (
    "revision: no changes detected (the models match the migrated schema); "
    "nothing written. Use autogenerate=False for a hand-written one"
)
"""The message of an autogenerate that found nothing (the CLI says it plainly)."""
_HOOK_TIMEOUT = 300.0


@dataclass
class Draft:
    """A revision about to be written with ``cfg`` (see the module docstring)."""

    cfg: Config
    message: str
    rev_id: str = field(default_factory=rev_id)
    hooks: list[Mapping[str, Any]] = field(default_factory=list)

    @classmethod
    def prepare(cls, cfg: Config, message: str) -> Draft:
        """Take the hooks over from Alembic and fix the file name's slug."""
        draft = cls(cfg, message, hooks=list(cfg.get_hooks_list()))
        cfg.set_section_option("post_write_hooks", "hooks", "")
        limit = int(cfg.get_alembic_option("truncate_slug_length") or 40)
        template = cfg.get_alembic_option("file_template") or "%(rev)s_%(slug)s"
        named = template.replace("%(slug)s", messages.slug(message, limit))
        # set_main_option goes through ConfigParser: a "%" must be doubled.
        cfg.set_main_option("file_template", named.replace("%", "%%"))
        return draft

    def files(self) -> list[Path]:
        """Files of this revision id in the version locations (0 or 1)."""
        scripts = ScriptDirectory.from_config(self.cfg)
        places = [Path(p) for p in scripts.version_locations or []]
        found: list[Path] = []
        for place in places or [Path(scripts.dir, "versions")]:
            found.extend(place.glob(f"*{self.rev_id}*.py"))
        return found

    def discard(self) -> None:
        """Remove whatever was written for this revision (and its bytecode)."""
        for path in self.files():
            with contextlib.suppress(OSError):
                path.unlink()
            cache = path.parent / "__pycache__"
            for pyc in cache.glob(f"{path.stem}.*.pyc") if cache.is_dir() else []:
                with contextlib.suppress(OSError):
                    pyc.unlink()

    def finish(self, path: Path) -> None:
        """Run the post-write hooks quietly; raise if the file no longer parses."""
        for hook in self.hooks:
            _run_hook(hook, path)
        try:
            ast.parse(path.read_bytes(), filename=path.name)
        except (SyntaxError, ValueError, OSError) as exc:
            raise MigrationError(
                f"revision: the written file does not parse ({type(exc).__name__}"
                f": {messages.docstring(exc)[:200]}); nothing kept",
                original=exc,
            ) from None


def _command(hook: Mapping[str, Any]) -> list[str]:
    name, kind = hook.get("_hook_name"), hook.get("type")
    if kind == "module":
        module = str(hook.get("module") or "")
        if not module or importlib.util.find_spec(module) is None:
            raise MigrationError(f"post write hook {name!r}: no module {module!r}")
        return [sys.executable, "-m", module]
    if kind == "exec":
        executable = hook.get("executable")
        if not executable:
            raise MigrationError(f"post write hook {name!r}: no 'executable' set")
        return [str(executable)]
    if kind == "console_scripts":
        wanted = str(hook.get("entrypoint") or "")
        found = entry_points(group="console_scripts", name=wanted)
        if not found:
            raise MigrationError(f"post write hook {name!r}: no script {wanted!r}")
        point = next(iter(found))
        module, _, attr = point.value.partition(":")
        return [sys.executable, "-c", f"import {module}; {module}.{attr}()"]
    raise MigrationError(
        f"post write hook {name!r}: type {kind!r} is not one of module, exec, "
        "console_scripts"
    )


def _run_hook(hook: Mapping[str, Any], path: Path) -> None:
    """Like Alembic's runner (its exit status is ignored), with output captured."""
    options = str(hook.get("options") or "")
    if TOKEN not in options:
        options = f"{TOKEN} {options}"
    cwd = hook.get("cwd") or None
    try:
        args = [a.replace(TOKEN, str(path)) for a in shlex.split(options)]
        subprocess.run(
            [*_command(hook), *args],
            cwd=cwd,
            capture_output=True,
            check=False,
            timeout=_HOOK_TIMEOUT,
            env={**os.environ, "NO_COLOR": "1"},
        )
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        raise MigrationError(
            f"post write hook {hook.get('_hook_name')!r} could not run: "
            f"{type(exc).__name__}",
            original=exc,
        ) from None


def _check_db(db: object) -> None:
    if db is not None and not isinstance(db, Database):
        raise ValidationError("db must be a dashtam_nb.Database or None", field="db")


async def arevision(
    message: str,
    autogenerate: bool = True,
    *,
    db: Database | None = None,
    script_location: PathLike | None = None,
) -> str:
    """Write a new revision file (date-prefixed, then ruff-formatted and fixed).

    Args:
        message: what it does, on one line (whitespace runs become a space);
            any text is safe (`messages`); the file name's slug is its ASCII
            words.
        autogenerate: diff the models against ``db``, which must be at head;
            ``False`` writes an empty revision to fill in by hand (no database).
        db: the database to compare with; ``None`` means `get_database()`.
        script_location: another migrations folder (tests use a copy).

    Returns:
        The path of the new file.

    Raises:
        MigrationError: nothing changed, the database is not at head, or the
            file could not be written; no file is left behind.
    """
    check_bool(autogenerate, "autogenerate")
    _check_db(db)
    text = messages.normalize(message)
    cfg = alembic_config(script_location)
    draft = Draft.prepare(cfg, text)
    write = functools.partial(
        command.revision, message=text, autogenerate=autogenerate, rev_id=draft.rev_id
    )
    try:
        if autogenerate:
            made = (
                await _with_alembic(db, "revision", write, cfg, autogenerate=True)
            ).result
        else:
            try:
                made = write(cfg)
            except Exception as exc:
                raise failure("revision", exc, "the database", None) from None
        if isinstance(made, Script):
            await asyncio.to_thread(draft.finish, Path(made.path))
    except BaseException:
        draft.discard()
        raise
    if not isinstance(made, Script):  # env.py drops an empty autogenerate
        draft.discard()
        raise MigrationError(NO_CHANGES)
    return str(made.path)


revision = runner.blocking(arevision)
