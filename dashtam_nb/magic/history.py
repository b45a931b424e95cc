"""Refusing a URL typed into a SQL cell, and removing it from the shell's record.

By the time ``%sql`` sees its line, IPython has already stored the cell in
``In``/``_ih``, the ``_i*`` variables, its linecache (which tracebacks quote)
and the history database. `refuse_url` removes ``postgresql://...`` (to the
end of its line) from all of them, then raises a one-line `ValidationError`
whose traceback is dropped, so ``%tb`` cannot quote the cell either. The
notebook document itself still holds the cell as typed.
"""

from __future__ import annotations

import linecache
import re
import sqlite3
from typing import TYPE_CHECKING, Any

from dashtam_nb.errors import ValidationError

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

__all__ = ["URL", "refuse_url", "scrub_input"]

URL = re.compile(r"(?i)\b(postgres(?:ql)?(?:\+\w+)?)://[^\n]*")
_INPUT_VARS = re.compile(r"_i+|_i\d+|_i00")


def refuse_url(shell: InteractiveShell) -> None:
    """Remove the URL from this cell's history, then refuse it in one line."""
    scrub_input(shell)
    err = ValidationError(
        "the SQL magic takes database names (--db NAME), never URLs: put the URL "
        "in DATABASE_URL (environment or .env); it was removed from the history",
        field="db",
    )
    err._dn_drop_traceback = True  # type: ignore[attr-defined]
    raise err


def _clean(source: str) -> str:
    return URL.sub(lambda m: f"{m.group(1)}://<removed>", source)


def scrub_input(shell: InteractiveShell) -> None:
    """Remove ``postgresql://`` URLs from the shell's record of the inputs."""
    n = shell.execution_count
    hm = shell.history_manager
    if hm is not None:
        for hist in (hm.input_hist_parsed, hm.input_hist_raw):
            hist[:] = [_clean(s) for s in hist]
        for attr in ("_i", "_ii", "_iii", "_i00"):
            setattr(hm, attr, _clean(getattr(hm, attr, "")))
        with hm.db_input_cache_lock:
            hm.db_input_cache = [
                (k, _clean(a), _clean(b)) for k, a, b in hm.db_input_cache
            ]
            if hm.enabled:
                _scrub_db(hm.db, hm.session_number)
    for name, value in list(shell.user_ns.items()):
        if _INPUT_VARS.fullmatch(name) and isinstance(value, str):
            shell.user_ns[name] = _clean(value)
    for name, number in getattr(shell.compile, "_filename_map", {}).items():
        entry = linecache.cache.get(name)
        if number == n and entry is not None and len(entry) == 4:
            size, mtime, lines, full = entry
            linecache.cache[name] = (size, mtime, [_clean(s) for s in lines], full)


def _scrub_db(db: Any, session: int) -> None:
    try:
        with db:
            rows = db.execute(
                "SELECT line, source, source_raw FROM history WHERE session = ?"
                " AND (source LIKE '%://%' OR source_raw LIKE '%://%')",
                (session,),
            ).fetchall()
            for line, source, raw in rows:
                db.execute(
                    "UPDATE history SET source = ?, source_raw = ?"
                    " WHERE session = ? AND line = ?",
                    (_clean(source), _clean(raw), session, line),
                )
    except (sqlite3.Error, AttributeError):
        pass  # no history database (disabled, or an in-memory stand-in)
