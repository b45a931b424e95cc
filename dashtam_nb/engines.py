"""The engine registry: one pooled `AsyncEngine` per URL and options.

Engines live only on the owner loop (see `runner`). Keeping them in a
process-wide registry means re-running a notebook's setup cell reuses the
pool instead of leaking one, and two `Database` objects with the same URL and
options share it. Keys hold a digest of the URL, never the URL itself:
registry keys show up in tracebacks that print locals.
"""

from __future__ import annotations

import hashlib
import threading
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from dashtam_nb import runner
from dashtam_nb.softdelete import DashtamSession

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import URL
    from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = [
    "EngineKey",
    "create",
    "dispose",
    "dispose_all",
    "dispose_url",
    "engine_for",
    "maker_for",
    "peek",
    "url_key",
]

EngineKey = tuple[str, tuple[tuple[str, Any], ...]]
_ENGINES: dict[EngineKey, AsyncEngine] = {}
_MAKERS: dict[EngineKey, async_sessionmaker[AsyncSession]] = {}
_LOCK = threading.Lock()


def url_key(url: URL) -> str:
    """A registry key for a URL that does not hold its password.

    A digest of the full URL tells servers and credentials apart without
    revealing them.
    """
    full = url.render_as_string(hide_password=False).encode()
    return hashlib.sha256(full).hexdigest()


def create(url: URL, echo: bool, options: dict[str, Any]) -> AsyncEngine:
    """A pooled engine for ``url`` with `Database`'s validated options."""
    # Sessions speak UTC whatever the server's default: date_trunc and
    # friends give the same answer everywhere, and psycopg returns
    # ``timezone.utc`` datetimes (faster into frames than zoneinfo).
    server_settings = ["-c TimeZone=UTC"]
    if options["statement_timeout"]:
        ms = int(options["statement_timeout"] * 1000)
        server_settings.append(f"-c statement_timeout={ms}")
    return create_async_engine(
        url,
        echo=echo,
        hide_parameters=True,
        pool_pre_ping=True,
        pool_size=options["pool_size"],
        max_overflow=options["max_overflow"],
        pool_timeout=options["pool_timeout"],
        connect_args={
            "connect_timeout": options["connect_timeout"],
            "application_name": "dashtam_nb",
            "options": " ".join(server_settings),
        },
    )


def engine_for(key: EngineKey, make: Callable[[], AsyncEngine]) -> AsyncEngine:
    """The engine under ``key``, made (with its sessionmaker) on first use."""
    with _LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            # An engine on the embedded server restarts it when it is down
            # (imported here: `import dashtam_nb` leaves `server` unloaded).
            from dashtam_nb.server import heal_on_connect

            engine = _ENGINES[key] = heal_on_connect(make())
            # close_resets_only=False: a session used after its block raises
            # SessionClosedError instead of silently starting a transaction
            # that never commits and holds a connection.
            _MAKERS[key] = async_sessionmaker(
                engine,
                expire_on_commit=False,
                sync_session_class=DashtamSession,
                close_resets_only=False,
            )
        return engine


def maker_for(key: EngineKey) -> async_sessionmaker[AsyncSession]:
    """The sessionmaker of the engine under ``key`` (after `engine_for`)."""
    return _MAKERS[key]


def peek(key: EngineKey) -> AsyncEngine | None:
    """The engine under ``key`` if one was made, without making one."""
    return _ENGINES.get(key)


def _pop(keys: list[EngineKey]) -> list[AsyncEngine]:
    with _LOCK:
        engines = [_ENGINES.pop(k) for k in keys if k in _ENGINES]
        for k in keys:
            _MAKERS.pop(k, None)
    return engines


async def dispose(key: EngineKey) -> None:
    """Forget and dispose the engine under ``key`` (no-op if none)."""
    for engine in _pop([key]):
        await engine.dispose()


async def dispose_url(url: URL) -> None:
    """Dispose every engine on ``url`` (any options): before a DROP DATABASE."""
    wanted = url_key(url)
    for engine in _pop([k for k in list(_ENGINES) if k[0] == wanted]):
        await engine.dispose()


async def dispose_all() -> None:
    """Dispose every engine (at exit, on the owner loop)."""
    for engine in _pop(list(_ENGINES)):
        await engine.dispose()


runner.on_shutdown(dispose_all)
