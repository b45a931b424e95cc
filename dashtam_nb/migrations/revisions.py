"""Reading revision scripts: history rows, creation dates, what failed or changed.

Alembic's objects describe revisions for its CLI; notebooks want a DataFrame
and one-line messages. Nothing here touches a database.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from dashtam_nb.frames import build_frame

if TYPE_CHECKING:
    from collections.abc import Iterable

    import pandas as pd
    from alembic.script import Script, ScriptDirectory

__all__ = [
    "HISTORY_COLUMNS",
    "created",
    "describe_diffs",
    "failing_revision",
    "first_line",
    "history_frame",
]

HISTORY_COLUMNS = [
    "revision",
    "down_revision",
    "message",
    "is_head",
    "is_current",
    "created",
]
"""Columns of `dashtam_nb.migrations.history`, in order."""

_TYPES = [*[pa.string()] * 3, pa.bool_(), pa.bool_(), pa.timestamp("us", tz="UTC")]
"""Arrow-backed like every frame of the package (see `dashtam_nb.frames`)."""

_CREATE_DATE = re.compile(r"^Create Date:\s*(.+?)\s*$", re.MULTILINE)


def first_line(text: str) -> str:
    """The first non-blank line, at most 300 characters (messages are one line)."""
    lines = text.strip().splitlines()
    return lines[0][:300] if lines else ""


def created(script: Script) -> datetime | None:
    """The file's ``Create Date:`` header; a naive one is taken as UTC."""
    found = _CREATE_DATE.search(script.module.__doc__ or "")
    try:
        stamp = datetime.fromisoformat(found.group(1)) if found else None
    except ValueError:
        return None
    return stamp.replace(tzinfo=stamp.tzinfo or UTC) if stamp else None


def _down(script: Script) -> str | None:
    """A merge has several parents ("a, b"); the first revision has None."""
    down = script.down_revision
    return down if down is None or isinstance(down, str) else ", ".join(down)


def history_frame(scripts: ScriptDirectory, current: str | None) -> pd.DataFrame:
    """One row per revision, base -> head (the order people read history in).

    Args:
        scripts: the revisions.
        current: the database's revision(s), comma-separated, or None.
    """
    tips, now = set(scripts.get_heads()), set((current or "").split(","))
    # walk_revisions goes head -> base; its order is deterministic.
    ordered = list(scripts.walk_revisions("base", "heads"))[::-1]
    rows = [
        (s.revision, _down(s), s.doc, s.revision in tips, s.revision in now, created(s))
        for s in ordered
    ]
    return build_frame(HISTORY_COLUMNS, rows, _TYPES)


def failing_revision(exc: BaseException) -> str | None:
    """The revision whose upgrade()/downgrade() raised, read from the traceback.

    Alembic does not say which step failed; the frame of the revision module
    does, without reaching into Alembic's private API.
    """
    found, tb = None, exc.__traceback__
    while tb is not None:
        code, names = tb.tb_frame.f_code, tb.tb_frame.f_globals
        if code.co_name in {"upgrade", "downgrade"} and "down_revision" in names:
            doc = first_line(str(names.get("__doc__") or ""))
            found = f"{names.get('revision')} ({doc!r})"
        tb = tb.tb_next
    return found


def describe_diffs(diffs: Iterable[Any]) -> str:
    """``add_column users.nickname; add_table notes``: names, never SQL."""
    parts = []
    for diff in diffs:
        item = diff[0] if isinstance(diff, list) else diff  # modify_* are lists
        # ("add_column", schema, "users", Column) -> "add_column users.nickname"
        texts = [x for x in item[1:] if isinstance(x, str)]
        names = texts + [x.name for x in item[1:] if hasattr(x, "name")]
        parts.append(f"{item[0]} {'.'.join(str(n) for n in names[:2])}".strip())
    more = f" (+{len(parts) - 5} more)" if len(parts) > 5 else ""
    return "; ".join(parts[:5]) + more
